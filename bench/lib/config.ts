/** Environment knobs of `npm run bench` (see docs/benchmarks.md). */
export interface BenchConfig {
  /** Rounds of benchmark 1 (one nestbox VM run + one floor boot per round). */
  bootRuns: number;
  /** Rounds of benchmark 2 (nestbox --isolation=process, podman, bare runc). */
  processRuns: number;
  /** Rounds of benchmark 3 (each: execPerRound in-process execs, one CLI exec, one runc exec…). */
  execRounds: number;
  execPerRound: number;
  /** Containers measured by benchmark 4 (of each isolation). */
  memoryRuns: number;
  /** Rounds of benchmark 5. */
  startupRuns: number;
  /** Rounds of benchmark 6 (docker run through `nestbox serve` vs nestbox run, process isolation). */
  apiRuns: number;
  /** Rounds of the same with VM isolation (~10 s a round under TCG). */
  apiVmRuns: number;
  /** Benchmark 6b: containers listed, concurrent requests, time and request bounds of the burst. */
  apiListContainers: number;
  apiListConcurrency: number;
  apiListSec: number;
  apiListMaxRequests: number;
  /** Untimed runs of every variant before measuring. */
  warmup: number;
  /** Benchmarks to run (ids or numbers); empty = all. */
  only: string[];
  /** Before each round, wait (up to 15 s, at most this many seconds in all) while other QEMUs run. */
  quietBudgetSec: number;
  out: string;
  keepTmp: boolean;
  strict: boolean;
}

function int(name: string, fallback: number, min = 0): number {
  const raw = process.env[name];
  if (raw === undefined || raw === '') return fallback;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < min) throw new Error(`${name}=${raw}: expected an integer ≥ ${min}`);
  return n;
}

export function loadConfig(defaultOut: string): BenchConfig {
  const all = process.env.BENCH_RUNS ? int('BENCH_RUNS', 0, 1) : undefined;
  return {
    bootRuns: int('BENCH_BOOT_RUNS', all ?? 15, 1),
    processRuns: int('BENCH_PROCESS_RUNS', all ?? 20, 1),
    execRounds: int('BENCH_EXEC_ROUNDS', all ?? 30, 1),
    execPerRound: int('BENCH_EXEC_PER_ROUND', 5, 1),
    memoryRuns: int('BENCH_MEMORY_RUNS', all ? Math.min(all, 3) : 3, 1),
    startupRuns: int('BENCH_STARTUP_RUNS', all ?? 20, 1),
    apiRuns: int('BENCH_API_RUNS', all ?? 20, 1),
    apiVmRuns: int('BENCH_API_VM_RUNS', all ? Math.min(all, 3) : 3, 0),
    apiListContainers: int('BENCH_API_LIST_CONTAINERS', 100, 1),
    apiListConcurrency: int('BENCH_API_LIST_CONCURRENCY', 8, 1),
    apiListSec: int('BENCH_API_LIST_SEC', 5, 1),
    apiListMaxRequests: int('BENCH_API_LIST_MAX_REQUESTS', 20_000, 1),
    warmup: int('BENCH_WARMUP', 1, 0),
    only: (process.env.BENCH_ONLY ?? '').split(',').map((s) => s.trim()).filter(Boolean),
    quietBudgetSec: int('BENCH_QUIET_BUDGET_SEC', 120, 0),
    out: process.env.BENCH_OUT ?? defaultOut,
    keepTmp: process.env.BENCH_KEEP_TMP === '1',
    strict: process.env.BENCH_STRICT === '1',
  };
}
