/**
 * 9. Checkpoints (issue 7): a full checkpoint of a running 256 MiB sandbox (a counter loop), and a
 * restore of it to a running container, through the library (no CLI process start in the
 * numbers). Each round checkpoints with --leave-running, restores, checks the counter went on,
 * removes the restored container and the checkpoint.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { Checkpoints } from '../src/core/checkpoints.js';
import { readLogs } from '../src/core/logs.js';
import type { Container } from '../src/core/container.js';
import { summarize } from './lib/stats.js';
import type { Benchmark, Check, VariantResult } from './lib/types.js';

const RUNS = Number(process.env.BENCH_CHECKPOINT_RUNS ?? 5);
const MEMORY_MIB = 256;
export const CREATE_TARGET_MS = 1000;
export const RESTORE_TARGET_MS = 500;
const COUNTER = 'i=0; while true; do i=$((i+1)); echo $i; sleep 0.2; done';

function variant(name: string, command: string, samples: number[], failures: string[], extra: Record<string, unknown> = {}): VariantResult {
  const stats = summarize(samples);
  return { name, command, unit: 'ms', samples, failures, ...(stats ? { stats } : {}), extra };
}

async function lastCount(c: Container): Promise<number> {
  const chunks: Buffer[] = [];
  for await (const e of readLogs(c)) chunks.push(e.data);
  return Number(Buffer.concat(chunks).toString().trim().split('\n').pop() ?? NaN);
}

export const checkpointBench: Benchmark = {
  id: 'checkpoint',
  title: `9. Checkpoints: full checkpoint of a ${MEMORY_MIB} MiB sandbox; restore to running`,
  async run(ctx) {
    const engine = ctx.engine;
    const cps = new Checkpoints(engine);
    const src = await engine.create({ image: 'busybox', cmd: ['sh', '-c', COUNTER], memoryMiB: MEMORY_MIB, name: 'nbb-cp-src' });
    ctx.defer('rm -f checkpoint source', () => engine.remove(src.config.id, { force: true }).catch(() => undefined));
    await engine.start(src.config.id);
    await sleep(2000);
    const create: number[] = [];
    const paused: number[] = [];
    const restore: number[] = [];
    const phases: Record<string, number>[] = [];
    const createPhases: Record<string, number>[] = [];
    const failures: string[] = [];
    let stateBytes = 0;
    let ramBytes = 0;
    for (let i = 0; i < RUNS + ctx.config.warmup && !ctx.aborted; i++) {
      await ctx.beforeRound();
      const name = `nbb-cp-${i}`;
      try {
        const r = await cps.create(src.config.id, name, { leaveRunning: true });
        stateBytes = r.manifest.files.state?.bytes ?? 0;
        ramBytes = (r.phases.ramPages ?? 0) * 4096;
        const restored = await cps.restore(name);
        try {
          const before = await lastCount(restored.container);
          await sleep(1000);
          const after = await lastCount(restored.container);
          if (!(after > before)) throw new Error(`the restored counter did not go on (${before} → ${after})`);
        } finally {
          await engine.remove(restored.container.config.id, { force: true });
          await cps.remove(name);
        }
        if (i < ctx.config.warmup) continue;
        create.push(r.totalMs);
        paused.push(r.pausedMs ?? NaN);
        restore.push(restored.ms);
        phases.push(restored.phases);
        createPhases.push(r.phases);
        ctx.log(`    round ${i + 1 - ctx.config.warmup}: checkpoint ${r.totalMs} ms (guest stopped ${r.pausedMs} ms) ${JSON.stringify(r.phases)}, restore ${restored.ms} ms ${JSON.stringify(restored.phases)}`);
      } catch (err) {
        failures.push((err as Error).message);
        ctx.log(`    round ${i + 1}: ${(err as Error).message}`);
        await cps.remove(name).catch(() => undefined);
      }
    }
    const variants = [
      variant(`checkpoint create (full, ${MEMORY_MIB} MiB, --leave-running)`, 'Checkpoints.create(src, name, { leaveRunning: true })', create, failures, { stateKiB: +(stateBytes / 1024).toFixed(1), ramDataMiB: +(ramBytes / 1024 ** 2).toFixed(1), phases: createPhases }),
      variant('  of which the guest was stopped', 'pausedMs of the same', paused, failures),
      variant('restore to running', 'Checkpoints.restore(name): checks, new container, state loaded, HELLO, REIDENTIFY', restore, failures, { phases }),
    ];
    const checks: Check[] = [];
    const [c, , r] = variants;
    if (c!.stats) checks.push({ variant: c!.name, target: `≤ ${CREATE_TARGET_MS} ms (median)`, metric: 'median ms', value: c!.stats.median, pass: c!.stats.median <= CREATE_TARGET_MS });
    if (r!.stats) checks.push({ variant: r!.name, target: `≤ ${RESTORE_TARGET_MS} ms (median)`, metric: 'median ms', value: r!.stats.median, pass: r!.stats.median <= RESTORE_TARGET_MS });
    const notes = [
      `the source runs \`${COUNTER}\`; each restored copy is checked to go on counting`,
      'checkpoint phases: saveMs (stop, the migration stream split into the RAM file and the state file as it arrives; diskMs, the writable disk packed to qcow2 and the log copied, runs at the same time), hashMs (state, disk, log: the RAM file is hashed as it is written), syncMs (fsync; the RAM file\'s starts when it is written)',
      'restore phases: checkMs (manifest, host identity, every file against its digest — from the verified-digest cache under the state root when unchanged) runs while setupMs + spawnMs (QEMU started with -incoming defer, the RAM file mapped, QMP and a ctl port connected, HELLO sent); then loadMs (the ~75 KB state) beside diskMs (qcow2 → the sparse raw writable disk, in place), resumeMs (cont), helloMs (the resumed guest answers the HELLO), identifyMs (REIDENTIFY); launchMs: from the checks passing to running',
    ];
    return { variants, checks, notes };
  },
};
