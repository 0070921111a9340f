/**
 * 11. Warm pool (issue 7): `POST /containers/create` + `start` + `wait` of `busybox true` through
 * the API server with a warm pool (`nestbox serve --pool 1`: the create adopts a ready, paused,
 * prepared sandbox restored from the template) versus bare `runc run` of a bundle on the same
 * rootfs. The server runs in this process (the API call is measured, not a CLI process start);
 * the pool is refilled between rounds, untimed.
 *
 * Phases of each pool round: create (the POST), start to running (the POST start, which returns
 * once the guest reported the process started), running to exit (until the guest's EXIT reached
 * the events file: its mtime, to the kernel's clock tick) and exit to wait returned.
 */
import { statSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { ApiServer } from '../src/api/server.js';
import { WarmPool } from '../src/core/pool.js';
import { interleave } from './lib/interleave.js';
import { BareRunc } from './lib/runc.js';
import { foreignQemuCount } from './lib/procfs.js';
import { summarize } from './lib/stats.js';
import { timeOk } from './lib/timing.js';
import type { Benchmark, Check } from './lib/types.js';

const RUNS = Number(process.env.BENCH_POOL_RUNS ?? 10);
export const POOL_TARGET = 2;

function api(sock: string, method: string, urlPath: string, body?: unknown): Promise<unknown> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, path: urlPath, method, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => ((res.statusCode ?? 500) >= 300 ? reject(new Error(`${method} ${urlPath}: ${res.statusCode} ${text}`)) : resolve(text ? JSON.parse(text) : undefined)));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

export const poolBench: Benchmark = {
  id: 'pool',
  title: '11. Warm pool: API create + start + wait of busybox true from the pool vs bare runc run',
  async run(ctx) {
    const engine = ctx.engine;
    await engine.createTemplate('busybox');
    const pool = new WarmPool(engine, { size: 1, images: ['busybox'], log: ctx.log });
    engine.pool = pool;
    const sock = path.join(ctx.tmp, 'pool.sock');
    const server = new ApiServer(engine, {});
    await server.listen({ kind: 'unix', path: sock });
    ctx.defer('pool server', async () => {
      await server.close();
      await pool.drain();
      engine.pool = undefined;
    });
    await pool.start();
    await pool.whenFilled();
    const runc = new BareRunc(path.join(ctx.tmp, 'runc-state'));
    const notes: string[] = [];
    ctx.defer('bare runc', async () => notes.push(...(await runc.teardown())));
    const image = await engine.images.resolve('busybox');
    const bundle = await runc.bundle(path.join(ctx.tmp, 'runc-bundle-pool'), await engine.images.rootfsDir(image), ['true']);
    let fromPool = 0;
    let rounds = 0;
    const phaseNames = ['create', 'start to running', 'running to exit', 'exit to wait returned', 'total'] as const;
    type Phases = Record<(typeof phaseNames)[number], number>;
    const phases: { quiet: boolean; p: Phases }[] = [];
    const variants = await interleave(
      [
        {
          name: 'bare runc run',
          command: 'runc --root $TMP/runc-state run --bundle $TMP/runc-bundle-pool <id> (true)',
          baseline: true,
          run: () => timeOk('runc', runc.args(['run', '--bundle', bundle, runc.newId('pool')]), { timeoutMs: 60_000 }),
        },
        {
          name: 'API create + start + wait from the warm pool',
          command: 'POST /containers/create {Image: busybox, Cmd: [true]}; POST /containers/{id}/start; POST /containers/{id}/wait (server in process, nestbox serve --pool 1)',
          run: async (round) => {
            await pool.whenFilled();
            const ready = pool.counts()[image.id] ?? 0;
            const quiet = foreignQemuCount(ctx.tmp) === 0;
            const t0 = performance.now();
            const { Id } = (await api(sock, 'POST', '/containers/create', { Image: 'busybox', Cmd: ['true'] })) as { Id: string };
            const t1 = performance.now();
            const taken = (pool.counts()[image.id] ?? 0) < ready;
            await api(sock, 'POST', `/containers/${Id}/start`);
            const t2 = performance.now();
            const { StatusCode } = (await api(sock, 'POST', `/containers/${Id}/wait`)) as { StatusCode: number };
            const t3 = performance.now();
            const exitAgoMs = Date.now() - statSync(path.join(engine.store.dirOf(Id), 'events')).mtimeMs;
            const ms = t3 - t0;
            rounds++;
            if (taken) fromPool++;
            const exitToWait = Math.max(0, Math.min(exitAgoMs, t3 - t2));
            const p = { create: t1 - t0, 'start to running': t2 - t1, 'running to exit': t3 - t2 - exitToWait, 'exit to wait returned': exitToWait, total: ms };
            await engine.remove(Id, { force: true });
            if (StatusCode !== 0) throw new Error(`exit ${StatusCode}`);
            if (round >= 0) phases.push({ quiet, p });
            return ms;
          },
        },
      ],
      { rounds: RUNS, warmup: ctx.config.warmup, log: ctx.log, stop: () => ctx.aborted, beforeRound: () => ctx.beforeRound() },
    );
    const v = variants[1]!;
    const checks: Check[] = [];
    if (v.ratio !== undefined) checks.push({ variant: v.name, target: `≤ ${POOL_TARGET}× bare runc run (median)`, metric: 'median ratio', value: v.ratio, pass: v.ratio <= POOL_TARGET });
    notes.push(`${fromPool} of ${rounds} creates found a ready pool sandbox (the pool is refilled between rounds, untimed)`);
    const measured = phases;
    const describe = (label: string, rows: typeof measured) => {
      if (!rows.length) return;
      const parts = phaseNames.map((k) => `${k} ${summarize(rows.map((r) => r.p[k]))!.median.toFixed(1)}`);
      notes.push(`phases, median ms of ${label} (n=${rows.length}): ${parts.join(', ')}`);
    };
    describe('all rounds', measured);
    describe('rounds with no other user\'s QEMU running', measured.filter((r) => r.quiet));
    v.extra = { phases: measured };
    return { variants, checks, notes };
  },
};
