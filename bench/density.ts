/**
 * 10. Density (issue 7): N idle VM sandboxes restored from one template, all up at once, each
 * still answering `exec`. Reports the time to start them all, the host memory they use (sum of
 * the QEMUs' PSS, and how much MemAvailable dropped) and exec latency while all are up.
 * N = BENCH_DENSITY (default 10; the issue's target is 100: `BENCH_DENSITY=100`).
 */
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Container } from '../src/core/container.js';
import type { Engine } from '../src/core/engine.js';
import { cpuSeconds, smapsRollup } from './lib/procfs.js';
import { summarize } from './lib/stats.js';
import type { Benchmark, Check, VariantResult } from './lib/types.js';

const N = Number(process.env.BENCH_DENSITY ?? 10);
const PARALLEL = Number(process.env.BENCH_DENSITY_PARALLEL ?? 2);
const IDLE_SEC = Number(process.env.BENCH_DENSITY_IDLE_SEC ?? 20);
const MEMORY_MIB = 256;

function memAvailableMiB(): number {
  const m = /^MemAvailable:\s+(\d+) kB/m.exec(readFileSync('/proc/meminfo', 'utf8'));
  return Number(m?.[1] ?? 0) / 1024;
}

/** Run `fn` over `items` with at most `width` at once; results in order. */
async function pooled<T, R>(items: T[], width: number, fn: (item: T) => Promise<R>, stop: () => boolean): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length && !stop()) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(width, items.length) }, worker));
  return out;
}

async function execEcho(engine: Engine, c: Container): Promise<number> {
  const t0 = performance.now();
  let out = '';
  const r = await engine.exec(c.config.id, { args: ['echo', 'ok'], env: [], cwd: '/', tty: false, stdin: false }, { onOutput: (_s, d) => (out += d.toString()) });
  if (r.exitCode !== 0 || out.trim() !== 'ok') throw new Error(`exec in ${c.config.name}: exit ${r.exitCode}, output ${JSON.stringify(out)}`);
  return performance.now() - t0;
}

function variant(name: string, command: string, unit: 'ms' | 'MiB', samples: number[], failures: string[], extra: Record<string, unknown> = {}): VariantResult {
  const stats = summarize(samples);
  return { name, command, unit, samples, failures, ...(stats ? { stats } : {}), extra };
}

export const densityBench: Benchmark = {
  id: 'density',
  title: `10. Density: ${N} idle VM sandboxes restored from one template, each answering exec`,
  async run(ctx) {
    const engine = ctx.engine;
    const t0 = Date.now();
    await engine.createTemplate('busybox', { memoryMiB: MEMORY_MIB });
    ctx.log(`    template ready in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const names = Array.from({ length: N }, (_, i) => `nbb-den-${i + 1}`);
    const started: Container[] = [];
    const removeAll = () => pooled(started.splice(0), 4, (c) => engine.remove(c.config.id, { force: true }).catch(() => undefined), () => false);
    ctx.defer('rm -f density sandboxes', removeAll);
    await ctx.beforeRound();
    const availBefore = memAvailableMiB();
    const failures: string[] = [];
    const startTimes: number[] = [];
    const s0 = Date.now();
    await pooled(names, PARALLEL, async (name) => {
      const t = performance.now();
      try {
        const c = await engine.create({ image: 'busybox', cmd: ['sleep', '1000000'], name, memoryMiB: MEMORY_MIB });
        started.push(c);
        const { container } = await engine.start(c.config.id);
        if (!container.state.template) throw new Error(`${name} was booted, not restored from the template`);
        startTimes.push(performance.now() - t);
      } catch (err) {
        failures.push(`${name}: ${(err as Error).message}`);
      }
      if (started.length % 10 === 0) ctx.log(`    ${started.length}/${N} up after ${((Date.now() - s0) / 1000).toFixed(1)} s`);
    }, () => ctx.aborted);
    const startAllSec = (Date.now() - s0) / 1000;
    ctx.log(`    ${startTimes.length} of ${N} started in ${startAllSec.toFixed(1)} s; idling ${IDLE_SEC} s`);
    const cs = (await Promise.all(started.map((c) => engine.inspect(c.config.id)))).filter((c) => c.state.pid);
    // the CPU the idle guests take together: QEMU CPU time over the idle window, in host cores
    const cpu0 = cs.map((c) => cpuSeconds(c.state.pid!));
    const i0 = performance.now();
    await sleep(IDLE_SEC * 1000);
    const idleCores = cs.reduce((sum, c, i) => sum + (cpuSeconds(c.state.pid!) - cpu0[i]!), 0) / ((performance.now() - i0) / 1000);
    const load = readFileSync('/proc/loadavg', 'utf8').split(' ').slice(0, 3).join(' ');
    const rollups = cs.map((c) => smapsRollup(c.state.pid!));
    const pss = rollups.map((r) => (r.Pss ?? 0) / 1024);
    const availUp = memAvailableMiB();
    const execs = await pooled(cs, PARALLEL, (c) => execEcho(engine, c).catch((err: Error) => (failures.push(err.message), NaN)), () => ctx.aborted);
    const execOk = execs.filter((x) => Number.isFinite(x));
    const pssSum = pss.reduce((a, b) => a + b, 0);
    const dropMiB = availBefore - availUp;
    ctx.log(`    PSS sum ${pssSum.toFixed(0)} MiB, MemAvailable dropped ${dropMiB.toFixed(0)} MiB; idle QEMUs took ${idleCores.toFixed(2)} cores (load ${load}); ${execOk.length}/${cs.length} answered exec`);
    await removeAll();
    const extra = {
      sandboxes: N,
      startedOk: startTimes.length,
      startAllSec: +startAllSec.toFixed(1),
      parallel: PARALLEL,
      pssSumMiB: +pssSum.toFixed(0),
      pssAnonSumMiB: +(rollups.reduce((a, r) => a + (r.Pss_Anon ?? 0), 0) / 1024).toFixed(0),
      memAvailableDropMiB: +dropMiB.toFixed(0),
      idleCores: +idleCores.toFixed(3),
      loadAverage: load,
      answeredExec: execOk.length,
    };
    const variants = [
      variant(`start one sandbox (of ${N}, ${PARALLEL} at a time)`, 'engine.create + engine.start (busybox sleep, restored from the template)', 'ms', startTimes, failures, extra),
      variant(`exec echo ok with ${N} up`, 'engine.exec(c, echo ok) in each idle sandbox', 'ms', execOk, failures),
      variant(`idle PSS per sandbox (${N} up)`, `smaps_rollup of each QEMU after ${IDLE_SEC} s idle`, 'MiB', pss, []),
    ];
    const checks: Check[] = [{ variant: variants[1]!.name, target: `all ${N} answer exec`, metric: 'answered', value: execOk.length, pass: execOk.length === N }];
    const notes = [
      `${N} sandboxes up at once (${MEMORY_MIB} MiB, 1 CPU each): started in ${startAllSec.toFixed(1)} s (${PARALLEL} at a time); host memory: PSS sum ${pssSum.toFixed(0)} MiB, MemAvailable dropped ${dropMiB.toFixed(0)} MiB`,
      `idle, the ${cs.length} QEMUs took ${idleCores.toFixed(2)} host cores together over ${IDLE_SEC} s (load average then: ${load})`,
      'MemAvailable is machine-wide: other users of the machine move it too',
    ];
    return { variants, checks, notes };
  },
};
