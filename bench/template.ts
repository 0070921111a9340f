/**
 * 7. VM templates (issue 7): `run --rm busybox true` restored from a template vs booted
 * (`--no-template`), side by side; then the host memory (PSS) of N idle sandboxes restored from
 * one template, at the default TCG code cache and at BENCH_TEMPLATE_SMALL_TB_MIB.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { TCG_TB_MIB } from '../src/vm/qemu/command.js';
import { interleave } from './lib/interleave.js';
import { cpuSeconds, smapsRollup } from './lib/procfs.js';
import { summarize } from './lib/stats.js';
import type { BenchContext } from './lib/context.js';
import type { Benchmark, Check, VariantResult } from './lib/types.js';

const RUNS = Number(process.env.BENCH_TEMPLATE_RUNS ?? 10);
const SANDBOXES = Number(process.env.BENCH_TEMPLATE_SANDBOXES ?? 20);
const SMALL_TB_MIB = Number(process.env.BENCH_TEMPLATE_SMALL_TB_MIB ?? 11);
const IDLE_SEC = Number(process.env.BENCH_TEMPLATE_IDLE_SEC ?? 30);
export const START_TARGET = 0.2;
export const PSS_TARGET_MIB = 30;

interface IdleResult {
  samples: number[];
  startSec: number;
  anonMiB: number[];
  /** CPU time of each QEMU from its start to the PSS reading (restore, RUN of `sleep`, the idle time). */
  cpuSec: number[];
}

/** Start `n` idle sandboxes from the template, let them idle, read every QEMU's PSS at once. */
async function idlePss(ctx: BenchContext, n: number, tbMiB: number | undefined, tag: string): Promise<IdleResult> {
  const names = Array.from({ length: n }, (_, i) => `nbb-tpl-${tag}-${i + 1}`);
  ctx.defer(`rm -f ${tag} sandboxes`, () => ctx.nb(['rm', '-f', ...names]).catch(() => undefined));
  const saved = process.env.NESTBOX_TEMPLATE_TB_MIB;
  if (tbMiB !== undefined) process.env.NESTBOX_TEMPLATE_TB_MIB = String(tbMiB);
  const t0 = Date.now();
  try {
    for (const name of names) {
      if (ctx.aborted) break;
      await ctx.nb(['run', '-d', '--name', name, 'busybox', 'sleep', '1000000']);
    }
  } finally {
    if (saved === undefined) delete process.env.NESTBOX_TEMPLATE_TB_MIB;
    else process.env.NESTBOX_TEMPLATE_TB_MIB = saved;
  }
  const startSec = (Date.now() - t0) / 1000;
  try {
    const pids: number[] = [];
    for (const name of names) {
      const c = await ctx.engine.inspect(name);
      if (!c.state.template) throw new Error(`${name} was not restored from a template`);
      pids.push(c.state.pid!);
    }
    await sleep(IDLE_SEC * 1000);
    const rollups = pids.map((pid) => smapsRollup(pid));
    const cpuSec = pids.map((pid) => cpuSeconds(pid));
    return { samples: rollups.map((r) => (r.Pss ?? 0) / 1024), startSec, anonMiB: rollups.map((r) => (r.Pss_Anon ?? 0) / 1024), cpuSec };
  } finally {
    await ctx.nb(['rm', '-f', ...names]);
  }
}

function pssVariant(name: string, command: string, r: IdleResult): VariantResult {
  const stats = summarize(r.samples);
  return {
    name,
    command,
    unit: 'MiB',
    samples: r.samples,
    failures: [],
    ...(stats ? { stats } : {}),
    extra: { startAllSec: r.startSec, pssAnonMiB: r.anonMiB, totalPssMiB: r.samples.reduce((a, b) => a + b, 0), qemuCpuSec: r.cpuSec },
  };
}

const median = (xs: number[]) => summarize(xs.filter(Number.isFinite))?.median ?? NaN;

export const templateBench: Benchmark = {
  id: 'template',
  title: '7. VM templates: run --rm from a template vs cold boot; idle PSS of restored sandboxes',
  async run(ctx) {
    // the template is built once, outside the measurements (what the first run of an image does)
    const t0 = Date.now();
    const key = (await ctx.nb(['template', 'create', 'busybox'])).trim();
    ctx.log(`    template ${key} built in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    const start = await interleave(
      [
        {
          name: 'nestbox run --rm (vm, cold boot)',
          command: 'nestbox run --rm --no-template busybox true',
          baseline: true,
          run: () => ctx.nbTimed(['run', '--rm', '--no-template', 'busybox', 'true']),
        },
        {
          name: 'nestbox run --rm (vm, from template)',
          command: 'nestbox run --rm busybox true',
          run: () => ctx.nbTimed(['run', '--rm', 'busybox', 'true']),
        },
      ],
      { rounds: RUNS, warmup: ctx.config.warmup, log: ctx.log, stop: () => ctx.aborted, beforeRound: () => ctx.beforeRound() },
    );
    const fromTemplate = start[1]!;
    const checks: Check[] = [];
    if (fromTemplate.ratio !== undefined) {
      checks.push({ variant: fromTemplate.name, target: `≤ ${START_TARGET.toFixed(2)}× cold boot (median)`, metric: 'median ratio', value: fromTemplate.ratio, pass: fromTemplate.ratio <= START_TARGET });
    }
    ctx.log(`    ${SANDBOXES} idle sandboxes, default code cache (${TCG_TB_MIB} MiB)…`);
    const dflt = await idlePss(ctx, SANDBOXES, undefined, 'default');
    ctx.log(`    ${SANDBOXES} idle sandboxes, NESTBOX_TEMPLATE_TB_MIB=${SMALL_TB_MIB}…`);
    const small = await idlePss(ctx, SANDBOXES, SMALL_TB_MIB, 'small');
    const pss = [
      pssVariant(`idle restored sandbox PSS (${SANDBOXES} up, default TCG cache ${TCG_TB_MIB} MiB)`, `${SANDBOXES}× nestbox run -d busybox sleep 1000000; ${IDLE_SEC} s idle; smaps_rollup of each QEMU`, dflt),
      pssVariant(`idle restored sandbox PSS (${SANDBOXES} up, NESTBOX_TEMPLATE_TB_MIB=${SMALL_TB_MIB})`, `NESTBOX_TEMPLATE_TB_MIB=${SMALL_TB_MIB} and as above`, small),
    ];
    for (const v of pss) {
      if (v.stats) checks.push({ variant: v.name, target: `≤ ${PSS_TARGET_MIB} MiB (median)`, metric: 'median MiB', value: v.stats.median, pass: v.stats.median <= PSS_TARGET_MIB });
    }
    const notes = [
      `template ${key}: RAM file mapped privately by every restored sandbox; device state loaded by QMP migrate-incoming`,
      `starting all ${SANDBOXES} restored sandboxes one after another took ${dflt.startSec.toFixed(1)} s (default cache) and ${small.startSec.toFixed(1)} s (small cache)`,
      `QEMU CPU time per sandbox from its start to the reading (restore, RUN, ${IDLE_SEC} s idle), median: ${median(dflt.cpuSec).toFixed(2)} s (default cache), ${median(small.cpuSec).toFixed(2)} s (small cache); CPU time, unlike wall time, hardly moves with other users' load`,
      'PSS splits the template RAM pages a sandbox has not written among every sandbox mapping them: the more sandboxes, the less each pays',
      "TCG's code cache is per QEMU and starts empty after a restore: a restored sandbox's start translates ~11.5 MiB of host code (restore, RUN, exec), which stays resident; a smaller cache is flushed during the start and again by larger commands later (CPU time above), see docs/templates.md",
    ];
    return { variants: [...start, ...pss], checks, notes };
  },
};
