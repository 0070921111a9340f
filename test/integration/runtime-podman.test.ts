import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Podman, ULIMITS } from './runtime-fixture.js';

// Debian's podman 4.3 (through conmon) with nestbox-runtime as its OCI runtime: VM containers by
// default, runc when the container is annotated io.nestbox.isolation=process.
const podman = new Podman();
before(() => podman.load());
after(() => podman.dispose());

const NET = ['--network', 'none'];
const ok = async (args: string[], input?: string) => {
  const r = await podman.run(args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, `podman ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
};
/** podman's clean-up (`delete`) runs in a process of its own after `run --rm` returns: give it a moment. */
async function gone(id: string): Promise<string[]> {
  for (let i = 0; i < 50; i++) {
    const left = await podman.leftovers(id);
    if (!left.length) return left;
    await new Promise((r) => setTimeout(r, 200));
  }
  return podman.leftovers(id);
}
/** Run `podman run --rm` detached-free and return the container's ID via --cidfile. */
async function runRm(args: string[], input?: string) {
  const cidfile = path.join(podman.dir, `cid-${Math.random().toString(16).slice(2)}`);
  const r = await podman.run(['run', '--rm', '--cidfile', cidfile, ...args], input === undefined ? {} : { input });
  return { ...r, id: readFileSync(cidfile, 'utf8').trim() };
}

test('process isolation by annotation: runc runs it, on the host kernel', async () => {
  const r = await runRm([...NET, ...ULIMITS, '--annotation', 'io.nestbox.isolation=process', 'busybox', 'sh', '-c', 'echo hi; uname -r']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `hi\n${os.release()}\n`);
  assert.deepEqual(await gone(r.id), [], 'runc state left behind');
});

test('VM isolation (default): output, a guest kernel, exit codes', async () => {
  const r = await runRm([...NET, 'busybox', 'sh', '-c', 'echo hi; uname -r; echo to-stderr >&2']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stderr, 'to-stderr\n', 'the runtime wrote into the container\'s stderr');
  const [hi, kernel] = r.stdout.split('\n');
  assert.equal(hi, 'hi');
  assert.notEqual(kernel, os.release(), 'uname -r is the host kernel: not a VM');
  assert.match(kernel!, /^\d+\.\d+/);
  const code = await runRm([...NET, 'busybox', 'sh', '-c', 'exit 3']);
  assert.equal(code.code, 3, code.stderr);
  // as with runc, a missing command fails at create (podman: 127), one that cannot run at start (126)
  const nf = await runRm([...NET, 'busybox', 'no-such-command']);
  assert.equal(nf.code, 127, nf.stderr);
  assert.match(nf.stderr, /exec: "no-such-command": executable file not found in \$PATH/);
  assert.equal((await runRm([...NET, 'busybox', '/etc/passwd'])).code, 126);
  assert.deepEqual(await gone(r.id), [], 'VM state left behind');
  assert.deepEqual(await gone(nf.id), [], 'VM state left behind');
  assert.deepEqual(await gone(code.id), [], 'VM state left behind');
});

test('VM: stdin (-i) and a terminal (-t, through --console-socket)', async () => {
  assert.equal(await ok(['run', '--rm', '-i', ...NET, 'busybox', 'sh', '-c', 'cat; echo done'], 'abc\n'), 'abc\ndone\n');
  const tty = await ok(['run', '--rm', '-t', ...NET, 'busybox', 'sh', '-c', 'tty; echo $TERM']);
  assert.match(tty, /^\/dev\/pts\/\d+\r\n/);
});

test('VM: run -d, exec, stop, rm leave no VM, waiter or state', async () => {
  const id = (await ok(['run', '-d', ...NET, '--name', 'nb1', 'busybox', 'sh', '-c', 'echo up; trap "echo bye; exit 5" TERM; while true; do sleep 0.1; done'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.equal(await ok(['exec', 'nb1', 'sh', '-c', 'echo in-exec; hostname']), `in-exec\n${id.slice(0, 12)}\n`);
  assert.equal((await podman.run(['exec', 'nb1', 'sh', '-c', 'exit 4'])).code, 4);
  assert.equal(await ok(['exec', '-i', 'nb1', 'cat'], 'piped\n'), 'piped\n');
  assert.match(await ok(['exec', '-t', 'nb1', 'tty']), /^\/dev\/pts\/\d+/);
  const nf = await podman.run(['exec', 'nb1', 'no-such-command']);
  assert.equal(nf.code, 127);
  assert.match(nf.stderr, /no-such-command/);
  assert.match(await ok(['ps']), /nb1/);
  await ok(['stop', '-t', '10', 'nb1']);
  assert.match(await ok(['ps', '-a', '--format', '{{.Status}}']), /Exited \(5\)/);
  assert.equal(await ok(['logs', 'nb1']), 'up\nbye\n');
  await ok(['rm', 'nb1']);
  assert.deepEqual(await gone(id), []);
});

test('VM: rm -f of a running container ends its VM', async () => {
  const id = (await ok(['run', '-d', ...NET, '--name', 'nb2', 'busybox', 'sleep', '1000'])).trim();
  await ok(['rm', '-f', '-t', '0', 'nb2']);
  assert.deepEqual(await gone(id), []);
});

test('VM: bind mounts of host directories (9p, :ro kept) and --tmpfs', async () => {
  const share = path.join(podman.dir, 'share');
  mkdirSync(share);
  writeFileSync(path.join(share, 'f'), 'from-host\n');
  const r = await runRm([...NET, '-v', `${share}:/data`, '--tmpfs', '/scratch', 'busybox', 'sh', '-c', 'cat /data/f; echo from-vm > /data/g; touch /scratch/x && grep " /scratch " /proc/mounts | cut -d" " -f3']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'from-host\ntmpfs\n');
  assert.equal(readFileSync(path.join(share, 'g'), 'utf8'), 'from-vm\n', 'a write in the VM did not reach the host directory');
  const ro = await runRm([...NET, '-v', `${share}:/data:ro`, 'busybox', 'touch', '/data/h']);
  assert.notEqual(ro.code, 0);
  assert.match(ro.stderr, /Read-only file system/);
  assert.deepEqual(await gone(r.id), []);
});
