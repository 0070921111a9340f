import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { COUNTER, NESTBOX, TestRoot, processesMatching, waitUntil } from '../helpers/cli.js';
import { stopServe } from '../helpers/serve.js';

// `nestbox migrate CONTAINER --to HOST:PORT` (docs/checkpoints.md, "Migration"): from the
// CLI's state root to a `nestbox serve -H tcp://…` with a state root of its own.
const src = new TestRoot();
const dst = new TestRoot();
let server: ChildProcess | undefined;
let port = 0;
after(async () => {
  if (server) await stopServe(server);
  await src.dispose();
  await dst.dispose();
});

const ok = async (root: TestRoot, args: string[]) => {
  const r = await root.nb(args);
  assert.equal(r.code, 0, `nestbox ${args.join(' ')} failed: ${r.stderr}`);
  return r.stdout;
};
const freePort = () =>
  new Promise<number>((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const p = (s.address() as net.AddressInfo).port;
      s.close(() => resolve(p));
    });
  });

before(async () => {
  await ok(dst, ['run', '--rm', 'busybox', 'true']); // the image is there (a migration brings no image)
  port = await freePort();
  await startServer();
});

async function startServer(): Promise<void> {
  let log = '';
  // an upload idle for 1.5 s is abandoned (the kill -9 test)
  server = spawn(NESTBOX, ['--root', dst.dir, 'serve', '-H', `tcp://127.0.0.1:${port}`], { stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, NESTBOX_MIGRATION_IDLE_MS: '1500' } });
  server.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  server.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!log.includes('API listening')) {
    if (server.exitCode !== null || Date.now() > deadline) throw new Error(`nestbox serve did not start: ${log}`);
    await sleep(50);
  }
}

test('migrate moves memory, processes and the writable layer; the source is released after the destination runs', async () => {
  const srcId = (await ok(src, ['run', '-d', '--name', 'mover', 'busybox', ...COUNTER])).trim();
  await ok(src, ['exec', 'mover', 'sh', '-c', 'echo layer > /f.txt; echo mem > /tmp/m.txt']);
  const hostname = await ok(src, ['exec', 'mover', 'hostname']);
  await sleep(1000);
  const r = await src.nb(['migrate', 'mover', '--to', `127.0.0.1:${port}`]);
  assert.equal(r.code, 0, r.stderr);
  console.log(`# ${r.stderr.trim()}`);
  assert.match(r.stderr, /downtime \d+ ms/);
  const newId = r.stdout.trim();
  assert.match(newId, /^[0-9a-f]{64}$/);
  // the source is gone (no container, no QEMU)
  assert.equal((await src.nb(['inspect', 'mover'])).code, 1);
  assert.deepEqual((await processesMatching(srcId)).filter((p) => p.includes('qemu-system')), []);
  // the destination continues it
  const info = JSON.parse(await ok(dst, ['inspect', 'mover']))[0];
  assert.equal(info.Id, newId);
  assert.equal(info.State.Status, 'running');
  const log = (await ok(dst, ['logs', 'mover'])).trim().split('\n').map(Number);
  assert.equal(log[0], 0, 'the log came along');
  await dst.assertCounting('mover', 'the counter keeps counting on the destination');
  assert.equal(await ok(dst, ['exec', 'mover', 'cat', '/f.txt']), 'layer\n');
  assert.equal(await ok(dst, ['exec', 'mover', 'cat', '/tmp/m.txt']), 'mem\n');
  assert.equal(await ok(dst, ['exec', 'mover', 'hostname']), hostname);
  // nothing of the transfer is left on either side
  assert.deepEqual(readdirSync(path.join(dst.dir, 'migrations')), []);
  assert.ok(!existsSync(path.join(dst.dir, 'checkpoints')) || readdirSync(path.join(dst.dir, 'checkpoints')).length === 0);
  assert.ok(!existsSync(path.join(src.dir, 'checkpoints')) || readdirSync(path.join(src.dir, 'checkpoints')).length === 0);
  assert.deepEqual(readdirSync(path.join(src.dir, 'forks')), []);
});

test('a failed migration leaves the source running: the destination refuses, or is not there', async () => {
  await ok(src, ['run', '-d', '--name', 'stay', 'busybox', ...COUNTER]);
  await ok(dst, ['create', '--name', 'stay', 'busybox', 'true']); // the name is taken there
  const refused = await src.nb(['migrate', 'stay', '--to', `127.0.0.1:${port}`]);
  assert.notEqual(refused.code, 0);
  assert.match(refused.stderr, /destination refused .*stay/);
  const unreachable = await src.nb(['migrate', 'stay', '--to', `127.0.0.1:${await freePort()}`]);
  assert.notEqual(unreachable.code, 0);
  assert.match(unreachable.stderr, /ECONNREFUSED|refused|connect/);
  const bad = await src.nb(['migrate', 'stay', '--to', 'nowhere']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /HOST:PORT/);
  await src.assertCounting('stay', 'the source still runs');
  assert.equal(JSON.parse(await ok(src, ['inspect', 'stay']))[0].State.Status, 'running');
  assert.deepEqual(readdirSync(path.join(dst.dir, 'migrations')), []);
  assert.ok(!existsSync(path.join(dst.dir, 'checkpoints')) || readdirSync(path.join(dst.dir, 'checkpoints')).length === 0);
  const dstList = JSON.parse(`[${(await ok(dst, ['ps', '-a', '--format', 'json'])).trim().split('\n').join(',')}]`) as { Names: string }[];
  assert.deepEqual(dstList.map((c) => c.Names).sort(), ['mover', 'stay']);
  await ok(src, ['rm', '-f', 'stay']);
  await ok(dst, ['rm', '-f', 'stay', 'mover']);
});

test('kill -9 of migrate mid-upload: the next migrate resumes the source and the destination sweeps the upload', async () => {
  await ok(src, ['run', '-d', '--name', 'victim', 'busybox', ...COUNTER]);
  const cli = spawn(NESTBOX, ['--root', src.dir, 'migrate', 'victim', '--to', `127.0.0.1:${port}`], { stdio: 'ignore' });
  const migrations = path.join(dst.dir, 'migrations');
  await waitUntil(() => uploading(migrations), 'the upload never started');
  cli.kill('SIGKILL');
  await new Promise((r) => cli.once('close', r));
  // a migrate that fails (nothing listens there) still sweeps first: the source counts again
  const failed = await src.nb(['migrate', 'victim', '--to', `127.0.0.1:${await freePort()}`]);
  assert.notEqual(failed.code, 0);
  await src.assertCounting('victim', 'the source runs again');
  await sleep(1000);
  // the next migrate sweeps on both sides: the source resumed, the stale upload removed; then it moves
  const r = await src.nb(['migrate', 'victim', '--to', `127.0.0.1:${port}`]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(readdirSync(migrations), []);
  assert.deepEqual(readdirSync(path.join(src.dir, 'forks')), []);
  await dst.assertCounting('victim', 'it runs on the destination');
  await ok(dst, ['rm', '-f', 'victim']);
});

test('kill -9 of the destination server mid-upload: the migration fails and the source keeps running; the restarted server sweeps the upload', async () => {
  await ok(src, ['run', '-d', '--name', 'survivor', 'busybox', ...COUNTER]);
  const run = src.nb(['migrate', 'survivor', '--to', `127.0.0.1:${port}`]);
  const migrations = path.join(dst.dir, 'migrations');
  await waitUntil(() => uploading(migrations), 'the upload never started');
  server!.kill('SIGKILL');
  await new Promise((r) => server!.once('exit', r));
  const r = await run;
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /migrate/);
  await src.assertCounting('survivor', 'the source still runs');
  assert.deepEqual(readdirSync(path.join(src.dir, 'forks')), []);
  await startServer();
  const moved = await src.nb(['migrate', 'survivor', '--to', `127.0.0.1:${port}`]);
  assert.equal(moved.code, 0, moved.stderr);
  assert.deepEqual(readdirSync(migrations), [], 'the dead server\'s upload was swept');
  await ok(dst, ['rm', '-f', 'survivor']);
});

/** A migration's upload into `migrations` (the destination's) has begun: some checkpoint.tar has bytes. */
function uploading(migrations: string): boolean {
  return existsSync(migrations) && readdirSync(migrations).some((n) => statSync(path.join(migrations, n, 'checkpoint.tar'), { throwIfNoEntry: false })?.size);
}
