import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { processesMatching, runCommand } from '../helpers/cli.js';
import { BUSYBOX_ARCHIVE, RUNTIME } from './runtime-fixture.js';
import { dataDir } from '../../src/runtime/data-dir.js';

// Debian's containerd, started here with its own root, state, socket and config; its runc shim
// (containerd-shim-runc-v2) calls nestbox-runtime as `ctr run --runc-binary` asks.
const dir = mkdtempSync(path.join(os.tmpdir(), 'nestbox-ctrd-'));
const sock = path.join(dir, 'containerd.sock');
const NAMESPACE = `nestbox-test-${process.pid}`;
/** Where the runc shim points the runtime's --root: /run/containerd/runc/<namespace>. */
const runtimeRoot = path.join('/run/containerd/runc', NAMESPACE);
let daemon: ChildProcess;
/** containerd (its shims) makes /run/containerd for fifos and sockets: remove it if we caused it. */
const hadRunDir = existsSync('/run/containerd');

const ctr = (args: string[], input?: string) =>
  runCommand('ctr', ['--address', sock, '--namespace', NAMESPACE, ...args], input === undefined ? {} : { input });
const ok = async (args: string[]) => {
  const r = await ctr(args);
  assert.equal(r.code, 0, `ctr ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
const RUN = ['run', '--snapshotter', 'native', '--runc-binary', RUNTIME];
const IMAGE = 'docker.io/library/busybox:latest';

before(async () => {
  const config = path.join(dir, 'config.toml');
  writeFileSync(
    config,
    [
      'version = 2',
      `root = "${dir}/root"`,
      `state = "${dir}/state"`,
      'disabled_plugins = ["io.containerd.grpc.v1.cri"]',
      '[grpc]',
      `  address = "${sock}"`,
      '[ttrpc]',
      `  address = "${sock}.ttrpc"`,
    ].join('\n') + '\n',
  );
  daemon = spawn('containerd', ['--config', config], { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  daemon.stderr!.on('data', (d: Buffer) => (log = (log + d.toString()).slice(-20_000)));
  for (let i = 0; i < 100 && !existsSync(sock); i++) await sleep(100);
  assert.ok(existsSync(sock), `containerd did not start: ${log}`);
  await ok(['images', 'import', '--snapshotter', 'native', BUSYBOX_ARCHIVE]);
});

after(async () => {
  for (const id of ['t1', 't2', 't3']) {
    await ctr(['task', 'kill', '-s', 'SIGKILL', id]);
    await ctr(['task', 'delete', '-f', id]);
    await ctr(['container', 'delete', id]);
  }
  await ctr(['images', 'rm', IMAGE]);
  daemon.kill('SIGTERM');
  await new Promise((r) => daemon.once('exit', r));
  rmSync(dir, { recursive: true, force: true });
  rmSync(runtimeRoot, { recursive: true, force: true });
  rmSync(dataDir(runtimeRoot), { recursive: true, force: true });
  if (!hadRunDir) rmSync('/run/containerd', { recursive: true, force: true });
});

test('ctr run --rm --runc-binary nestbox-runtime: a VM, its output and exit code', async () => {
  const r = await ctr([...RUN, '--rm', IMAGE, 't1', 'sh', '-c', 'echo hi; uname -r; exit 3']);
  assert.equal(r.code, 3, r.stderr);
  const [hi, kernel] = r.stdout.split('\n');
  assert.equal(hi, 'hi');
  assert.notEqual(kernel, os.release(), 'uname -r is the host kernel: not a VM');
  assert.ok(!existsSync(path.join(runtimeRoot, 'vm', 't1')), 'VM state left behind');
});

test('ctr: run -d, task exec, pause/resume, kill, delete', async () => {
  await ok([...RUN, '-d', IMAGE, 't2', 'sh', '-c', 'trap "exit 7" TERM; while true; do sleep 0.1; done']);
  assert.match(await ok(['task', 'ls']), /t2\s+\d+\s+RUNNING/);
  const ex = await ctr(['task', 'exec', '--exec-id', 'e1', 't2', 'sh', '-c', 'echo in-exec; exit 2']);
  assert.equal(ex.code, 2, ex.stderr);
  assert.equal(ex.stdout, 'in-exec\n');
  await ok(['task', 'pause', 't2']);
  assert.match(await ok(['task', 'ls']), /t2\s+\d+\s+PAUSED/);
  await ok(['task', 'resume', 't2']);
  await ok(['task', 'kill', 't2']); // SIGTERM: the trap exits 7
  let ls = '';
  for (let i = 0; i < 100 && !/STOPPED/.test(ls); i++) {
    ls = await ok(['task', 'ls']);
    await sleep(100);
  }
  assert.match(ls, /t2\s+\d+\s+STOPPED/);
  await ok(['task', 'delete', 't2']);
  await ok(['container', 'delete', 't2']);
  assert.ok(!existsSync(path.join(runtimeRoot, 'vm', 't2')), 'VM state left behind');
  assert.deepEqual(await processesMatching(path.join(runtimeRoot, 'vm')), []);
  assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(dir + '/state'), 'rootfs mount left behind');
});
