/**
 * 14. Live migration (issue 7, target 5: "live migration downtime reported"): `nestbox migrate`
 * of a running 256 MiB sandbox (a counter loop) from the bench's state root to a `nestbox serve
 * -H tcp://127.0.0.1:PORT` on a second state root of this machine, through the library (the
 * source's side; no CLI start in the numbers). Each round starts a fresh source, migrates it,
 * checks on the destination that the counter goes on, and removes it there.
 *
 * Baseline, in the same round: a local full checkpoint (`--leave-running`) plus its restore on the
 * source's root, i.e. the same save and restore without the transfer: the guest stopped while it
 * was saved, plus the restore to running. A migration's downtime is that and the move.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdirSync, rmSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { Checkpoints } from '../src/core/checkpoints.js';
import { migrate } from '../src/core/migrate.js';
import { NESTBOX } from './lib/context.js';
import { pairedRatio, summarize } from './lib/stats.js';
import { sh } from './lib/timing.js';
import type { Benchmark, VariantResult } from './lib/types.js';

const RUNS = Number(process.env.BENCH_MIGRATE_RUNS ?? 4);
const MEMORY_MIB = 256;
const COUNTER = 'i=0; while true; do i=$((i+1)); echo $i; sleep 0.2; done';

const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });

async function startServe(root: string, port: number): Promise<ChildProcess> {
  let log = '';
  const child = spawn(NESTBOX, ['--root', root, 'serve', '-H', `tcp://127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!log.includes('API listening')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`nestbox serve did not start: ${log.slice(-500)}`);
    await sleep(50);
  }
  return child;
}

const lastCount = async (root: string, name: string) => Number((await sh(NESTBOX, ['--root', root, 'logs', name])).trim().split('\n').pop());

export const migrateBench: Benchmark = {
  id: 'migrate',
  title: `14. Live migration of a ${MEMORY_MIB} MiB sandbox between two state roots: downtime vs a local checkpoint + restore`,
  async run(ctx) {
    const engine = ctx.engine;
    const cps = new Checkpoints(engine);
    const dst = path.join(ctx.tmp, 'dst');
    mkdirSync(dst, { recursive: true });
    const nbDst = (args: string[]) => sh(NESTBOX, ['--root', dst, ...args], { timeoutMs: 180_000 });
    await nbDst(['run', '--rm', 'busybox', 'true']); // the image is there (a migration brings none)
    const port = await freePort();
    const server = await startServe(dst, port);
    ctx.defer('destination root', async () => {
      server.kill('SIGTERM');
      await new Promise((r) => (server.exitCode !== null ? r(undefined) : server.once('exit', r)));
      const ids = (await nbDst(['ps', '-aq', '--no-trunc']).catch(() => '')).split('\n').filter(Boolean);
      if (ids.length) await nbDst(['rm', '-f', ...ids]);
      await nbDst(['network', 'prune', '-f']).catch(() => undefined);
      rmSync(dst, { recursive: true, force: true });
    });
    const downtime: number[] = [];
    const local: number[] = [];
    const phases: Record<string, number>[] = [];
    const failures: string[] = [];
    let sentMiB = 0;
    for (let i = 0; i < RUNS + ctx.config.warmup && !ctx.aborted; i++) {
      await ctx.beforeRound();
      const name = `nbb-mig-${i}`;
      try {
        const src = await engine.create({ image: 'busybox', cmd: ['sh', '-c', COUNTER], memoryMiB: MEMORY_MIB, name });
        await engine.start(src.config.id);
        await sleep(1500);
        // the baseline: the same save and restore, on this root, no transfer
        const cp = await cps.create(src.config.id, `${name}-cp`, { leaveRunning: true });
        const restored = await cps.restore(`${name}-cp`);
        await engine.remove(restored.container.config.id, { force: true });
        await cps.remove(`${name}-cp`);
        await sleep(500);
        const r = await migrate(engine, src.config.id, `127.0.0.1:${port}`);
        const before = await lastCount(dst, name);
        await sleep(1000);
        const after = await lastCount(dst, name);
        await nbDst(['rm', '-f', name]);
        if (!(after > before)) throw new Error(`the counter did not go on at the destination (${before} → ${after})`);
        sentMiB = r.bytes / 1024 ** 2;
        if (i < ctx.config.warmup) continue;
        downtime.push(r.downtimeMs);
        local.push(cp.pausedMs! + restored.ms);
        phases.push(r.phases);
        ctx.log(`    round ${i + 1 - ctx.config.warmup}: downtime ${r.downtimeMs} ms ${JSON.stringify(r.phases)} (${sentMiB.toFixed(1)} MiB sent); local checkpoint ${cp.pausedMs} ms stopped + restore ${restored.ms} ms`);
      } catch (err) {
        failures.push((err as Error).message);
        ctx.log(`    round ${i + 1}: ${(err as Error).message}`);
        await engine.remove(name, { force: true }).catch(() => undefined);
        await cps.remove(`${name}-cp`).catch(() => undefined);
      }
    }
    const variant = (name: string, command: string, samples: number[], extra: Record<string, unknown> = {}, baseline = false): VariantResult => {
      const stats = summarize(samples);
      return { name, command, unit: 'ms', samples, failures, ...(stats ? { stats } : {}), ...(baseline ? { baseline } : {}), extra };
    };
    const base = variant('local checkpoint (guest stopped) + restore', 'Checkpoints.create(src, cp, { leaveRunning: true }).pausedMs + Checkpoints.restore(cp).ms', local, {}, true);
    const mig = variant(`migration downtime (${MEMORY_MIB} MiB)`, 'migrate(engine, src, 127.0.0.1:PORT).downtimeMs: from the source stopping to the destination reporting it runs', downtime, { phases, sentMiB: +sentMiB.toFixed(1) });
    if (base.stats && mig.stats) mig.ratio = +(mig.stats.median / base.stats.median).toFixed(2);
    const paired = pairedRatio(downtime, local);
    if (paired !== undefined) mig.pairedRatio = +paired.toFixed(2);
    const notes = [
      `the destination is \`nestbox serve -H tcp://127.0.0.1:PORT\` on a second state root of this machine (its own process); each round's source is a fresh ${MEMORY_MIB} MiB busybox counter`,
      'phases: saveMs (the source stopped and saved), uploadMs (files to the destination), restoreMs (the destination checks and restores; it answers once the container runs)',
    ];
    return { variants: [base, mig], checks: [], notes };
  },
};
