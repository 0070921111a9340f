/**
 * 4. Host memory (PSS from /proc/<pid>/smaps_rollup) of one idle container: VM-isolated (the
 * QEMU process) and process-isolated (the shim and everything under it), after it settles.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchContext } from './lib/context.js';
import { interleave } from './lib/interleave.js';
import { commOf, processTree, smapsRollup } from './lib/procfs.js';
import type { Benchmark } from './lib/types.js';

const SAMPLE_MS = 1000;
const STABLE_SAMPLES = 5;
const STABLE_WITHIN = 0.01;
const MAX_SETTLE_MS = 45_000;

interface Reading {
  pssKiB: number;
  detail: Record<string, number | string>;
}

/** Sample until STABLE_SAMPLES readings in a row agree within 1% (or give up at MAX_SETTLE_MS). */
async function settle(read: () => Reading, stop: () => boolean): Promise<{ last: Reading; settledMs: number; settled: boolean; series: number[] }> {
  const t0 = Date.now();
  const series: number[] = [];
  let last = read();
  series.push(last.pssKiB);
  for (;;) {
    const tail = series.slice(-STABLE_SAMPLES);
    if (tail.length === STABLE_SAMPLES && Math.max(...tail) - Math.min(...tail) <= STABLE_WITHIN * Math.max(...tail)) {
      return { last, settledMs: Date.now() - t0, settled: true, series };
    }
    if (Date.now() - t0 > MAX_SETTLE_MS || stop()) return { last, settledMs: Date.now() - t0, settled: false, series };
    await sleep(SAMPLE_MS);
    last = read();
    series.push(last.pssKiB);
  }
}

function readTree(root: number): Reading {
  const detail: Record<string, number | string> = {};
  let pss = 0;
  for (const pid of processTree(root)) {
    try {
      const kib = smapsRollup(pid).Pss ?? 0;
      pss += kib;
      detail[`${commOf(pid)}[${pid}] Pss kB`] = kib;
    } catch {
      // exited between listing and reading
    }
  }
  return { pssKiB: pss, detail };
}

function readQemu(pid: number): Reading {
  const s = smapsRollup(pid);
  return { pssKiB: s.Pss ?? 0, detail: { 'Rss kB': s.Rss ?? 0, 'Pss kB': s.Pss ?? 0, 'Pss_Anon kB': s.Pss_Anon ?? 0, 'Pss_File kB': s.Pss_File ?? 0 } };
}

export const memoryBench: Benchmark = {
  id: 'memory',
  title: '4. host memory (PSS) of one idle container',
  async run(ctx) {
    const extras: Record<string, unknown[]> = { vm: [], process: [] };
    const measure = (isolation: 'vm' | 'process') => async (round: number) => {
      const name = `nbb-mem-${isolation}-${round + 1}`;
      ctx.defer(`rm -f ${name}`, () => ctx.nb(['rm', '-f', name]).catch(() => undefined));
      await ctx.nb(['run', '-d', '--name', name, `--isolation=${isolation}`, 'busybox', 'sleep', '1000000']);
      try {
        const pid = (await ctx.engine.inspect(name)).state.pid;
        if (!pid) throw new Error(`${name} has no monitor pid`);
        const s = await settle(() => (isolation === 'vm' ? readQemu(pid) : readTree(pid)), () => ctx.aborted);
        extras[isolation]!.push({ container: name, settled: s.settled, settleSeconds: s.settledMs / 1000, seriesKiB: s.series, last: s.last.detail });
        ctx.log(`    ${name}: ${(s.last.pssKiB / 1024).toFixed(1)} MiB PSS (${s.settled ? 'settled' : 'NOT settled'} after ${(s.settledMs / 1000).toFixed(0)} s) ${JSON.stringify(s.last.detail)}`);
        return s.last.pssKiB / 1024;
      } finally {
        await ctx.nb(['rm', '-f', name]);
      }
    };
    const variants = await interleave(
      [
        { name: 'idle VM container: QEMU PSS', command: 'nestbox run -d busybox sleep 1000000 → smaps_rollup of QEMU', unit: 'MiB', run: measure('vm') },
        { name: 'idle process container: shim tree PSS', command: 'nestbox run -d --isolation=process busybox sleep 1000000 → Σ smaps_rollup of shim + children', unit: 'MiB', run: measure('process') },
      ],
      { rounds: ctx.config.memoryRuns, warmup: 0, log: ctx.log, stop: () => ctx.aborted, beforeRound: () => ctx.beforeRound() },
    );
    variants[0]!.extra = { containers: extras.vm };
    variants[1]!.extra = { containers: extras.process };
    const last = (extras.vm!.at(-1) as { last?: Record<string, number> } | undefined)?.last;
    const notes = [
      ...(last ? [`last VM reading: Rss ${(last['Rss kB']! / 1024).toFixed(0)} MiB, Pss_Anon ${(last['Pss_Anon kB']! / 1024).toFixed(0)} MiB (guest RAM + TCG code buffer), Pss_File ${(last['Pss_File kB']! / 1024).toFixed(0)} MiB (QEMU binary and libraries: split with every other QEMU running, so it varies with the machine's other guests)`] : []),
      `settled = ${STABLE_SAMPLES} samples ${SAMPLE_MS} ms apart within ${STABLE_WITHIN * 100}% (at most ${MAX_SETTLE_MS / 1000} s); default memory ${256} MiB, 1 vCPU`,
      'no Node.js process stays behind per container: the CLI exits after `run -d`',
    ];
    return { variants, checks: [], notes };
  },
};
