import { test, after, before } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
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
  assert.deepEqual(readdirSync(path.join(src.dir, 'checkpoints')), [], 'the killed migration\'s scratch checkpoint was swept');
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

test('the destination treats an upload as hostile: foreign or mis-named offers, out-of-order or oversized chunks, wrong bytes; nothing is left', async () => {
  // a real manifest and files, from a checkpoint of a running container here
  await ok(src, ['run', '-d', '--name', 'model', 'busybox', ...COUNTER]);
  await ok(src, ['checkpoint', 'create', '--leave-running', 'model', 'cpm']);
  await ok(src, ['rm', '-f', 'model']);
  const cp = path.join(src.dir, 'checkpoints', 'cpm');
  const manifestText = readFileSync(path.join(cp, 'manifest.json'), 'utf8');
  const manifest = JSON.parse(manifestText);
  const base = `http://127.0.0.1:${port}/nestbox/v1/migrations`;
  const req = async (method: string, url: string, body?: Buffer | string) => {
    const res = await fetch(url, { method, ...(body !== undefined ? { body, headers: { 'Content-Type': typeof body === 'string' ? 'application/json' : 'application/octet-stream' } } : {}) });
    const text = await res.text();
    return { status: res.status, message: text ? ((JSON.parse(text) as { message?: string }).message ?? '') : '', json: text ? JSON.parse(text) : undefined };
  };
  const offer = (name: string, m: string = manifestText) => req('POST', base, JSON.stringify({ name, manifest: m }));
  const open = async () => {
    const r = await offer('hostile');
    assert.equal(r.status, 201, r.message);
    return `${base}/${r.json.id as string}`;
  };
  const run = (first: number, count: number, fill = 0x41) => Buffer.concat([Buffer.from([first >>> 24, (first >>> 16) & 255, (first >>> 8) & 255, first & 255, count >>> 24, (count >>> 16) & 255, (count >>> 8) & 255, count & 255]), Buffer.alloc(count * 4096, fill)]);

  // refused before anything is sent: not a manifest, an image this host does not have, a taken name
  let r = await offer('hostile', '{"format": "nope"}');
  assert.equal(r.status, 400);
  assert.match(r.message, /not a nestbox checkpoint manifest/);
  r = await offer('hostile', JSON.stringify({ ...manifest, image: { ...manifest.image, id: `sha256:${'0'.repeat(64)}` } }));
  assert.equal(r.status, 400);
  assert.match(r.message, /image .* is not present here/);
  await ok(dst, ['create', '--name', 'taken', 'busybox', 'true']);
  r = await offer('taken');
  assert.equal(r.status, 409);
  assert.match(r.message, /"taken" is already in use/);
  await ok(dst, ['rm', 'taken']);

  // a chunk not at the file's end, a file the manifest does not list, one past its size: each breaks its upload
  let u = await open();
  r = await req('PUT', `${u}/files/state?offset=5`, Buffer.from('x'));
  assert.equal(r.status, 409);
  assert.match(r.message, /state chunk at offset 5, but 0 bytes/);
  r = await req('PUT', `${u}/files/state?offset=0`, Buffer.from('x'));
  assert.equal(r.status, 409);
  assert.match(r.message, /is broken .*start the migration again/);
  assert.equal((await req('DELETE', u)).status, 204);
  u = await open();
  r = await req('PUT', `${u}/files/..%2F..%2Fetc%2Fpasswd?offset=0`, Buffer.from('x'));
  assert.equal(r.status, 400);
  assert.match(r.message, /no file "\.\.\/\.\.\/etc\/passwd" in its manifest/);
  assert.equal((await req('DELETE', u)).status, 204);
  u = await open();
  r = await req('PUT', `${u}/files/toString?offset=0`, Buffer.from('x'));
  assert.equal(r.status, 400, r.message);
  assert.match(r.message, /no file "toString" in its manifest/);
  assert.equal((await req('DELETE', u)).status, 204);
  u = await open();
  r = await req('PUT', `${u}/files/log?offset=0`, Buffer.alloc(manifest.files.log.bytes + 1));
  assert.equal(r.status, 400);
  assert.match(r.message, /log would be \d+ bytes, its manifest says/);
  assert.equal((await req('DELETE', u)).status, 204);

  // RAM: runs that descend, reach past the guest's memory, or stop short
  const npages = manifest.memoryMiB * 256;
  for (const [body, why] of [
    [Buffer.concat([run(10, 1), run(5, 1)]), /page 5 after page 10 \(runs must ascend\)/],
    [run(npages - 1, 2), /beyond the guest's \d+ pages/],
    [run(3, 2).subarray(0, 8 + 4096 + 100), /ends inside a run/],
    [run(3, 0), /an empty run/],
  ] as const) {
    u = await open();
    r = await req('PUT', `${u}/ram`, body);
    assert.equal(r.status, 400, `${why}: ${r.message}`);
    assert.match(r.message, why);
    assert.equal((await req('DELETE', u)).status, 204);
  }

  // whole files with a changed byte, or one missing: the start refuses, naming the file; no container
  for (const [tamper, why] of [
    ['state', /state does not match its sha256 in the manifest \(corrupt\)/],
    ['ram', /ram does not match its sha256 in the manifest \(corrupt\)/],
    ['log', /log is incomplete/],
  ] as const) {
    u = await open();
    for (const key of Object.keys(manifest.files).filter((k) => k !== 'ram')) {
      const name = key === 'disk' ? 'rw.qcow2' : key;
      let bytes = readFileSync(path.join(cp, name));
      if (key === tamper && key === 'state') bytes = Buffer.from(bytes.map((b, i) => (i === 100 ? b ^ 1 : b)));
      if (key === tamper && key === 'log') bytes = bytes.subarray(0, bytes.length - 1);
      r = await req('PUT', `${u}/files/${key}?offset=0`, bytes);
      assert.equal(r.status, 200, r.message);
    }
    if (tamper === 'ram') {
      r = await req('PUT', `${u}/ram`, run(7, 1));
      assert.equal(r.status, 200, r.message);
    }
    r = await req('POST', `${u}/start`, JSON.stringify({ name: 'hostile' }));
    assert.equal(r.status, 400, r.message);
    assert.match(r.message, why);
    assert.equal((await req('DELETE', u)).status, 404, 'a refused start removed its upload');
  }
  assert.equal((await dst.nb(['inspect', 'hostile'])).code, 1, 'no container was made');
  assert.deepEqual(readdirSync(path.join(dst.dir, 'migrations')), []);
  assert.ok(!existsSync(path.join(dst.dir, 'checkpoints')) || readdirSync(path.join(dst.dir, 'checkpoints')).length === 0);
  await ok(src, ['checkpoint', 'rm', 'cpm']);
});

/** A migration's upload into `migrations` (the destination's) has begun: some file other than its manifest has bytes. */
function uploading(migrations: string): boolean {
  if (!existsSync(migrations)) return false;
  return readdirSync(migrations).some((n) =>
    readdirSync(path.join(migrations, n), { withFileTypes: true }).some((f) => f.isFile() && f.name !== 'manifest.json' && f.name !== 'owner' && (statSync(path.join(migrations, n, f.name), { throwIfNoEntry: false })?.size ?? 0) > 0),
  );
}
