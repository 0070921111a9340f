import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestRoot } from '../helpers/cli.js';

// One root for the file; each test boots its own short-lived VM (TCG here, ~2-3 s each).
const root = new TestRoot();
after(() => root.dispose());

test('run --rm busybox echo hello prints hello and exits 0', async () => {
  const r = await root.nb(['run', '--rm', 'busybox', 'echo', 'hello']);
  assert.equal(r.stderr, '');
  assert.equal(r.stdout, 'hello\n');
  assert.equal(r.code, 0);
  assert.equal((await root.nb(['ps', '-aq'])).stdout, '', '--rm leaves no container');
});

test('the container runs under its own kernel: uname -r and boot_id differ from the host', async () => {
  const r = await root.nb(['run', '--rm', 'busybox', 'sh', '-c', 'uname -r; cat /proc/sys/kernel/random/boot_id; ls /work 2>&1 || true']);
  assert.equal(r.code, 0, r.stderr);
  const [kernel, bootId, ...rest] = r.stdout.trim().split('\n');
  assert.notEqual(kernel, os.release());
  assert.match(kernel!, /^6\.1\./);
  assert.notEqual(bootId, readFileSync('/proc/sys/kernel/random/boot_id', 'utf8').trim());
  assert.match(rest.join('\n'), /No such file or directory/, 'host paths are not visible in the guest');
});

test('exit codes: container code, 128+signal, 127 not found, 126 not executable', async () => {
  assert.equal((await root.nb(['run', '--rm', 'busybox', 'sh', '-c', 'exit 7'])).code, 7);
  assert.equal((await root.nb(['run', '--rm', 'busybox', 'sh', '-c', 'kill -9 $$'])).code, 137);
  const nf = await root.nb(['run', '--rm', 'busybox', 'no-such-command']);
  assert.equal(nf.code, 127);
  assert.match(nf.stderr, /no-such-command/);
  const ne = await root.nb(['run', '--rm', 'busybox', '/etc/passwd']);
  assert.equal(ne.code, 126);
  assert.match(ne.stderr, /permission denied/);
});

test('stdin is piped through with -i', async () => {
  const r = await root.nb(['run', '-i', '--rm', 'busybox', 'cat'], { input: 'abc\n' });
  assert.equal(r.stdout, 'abc\n');
  assert.equal(r.code, 0);
});

test('env, env-file, workdir, user, hostname, entrypoint', async () => {
  const envFile = path.join(root.dir, 'env.list');
  writeFileSync(envFile, '# comment\nFROM_FILE=yes\n');
  const r = await root.nb([
    'run', '--rm', '-e', 'A=1', '--env-file', envFile, '-w', '/tmp', '-u', 'nobody', '--hostname', 'box1',
    '--entrypoint', 'sh', 'busybox', '-c', 'echo $A $FROM_FILE; pwd; id -u; hostname',
  ]);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['1 yes', '/tmp', '65534', 'box1']);
});

test('--read-only root refuses writes; the image is never written', async () => {
  const ro = await root.nb(['run', '--rm', '--read-only', 'busybox', 'sh', '-c', 'touch /x']);
  assert.notEqual(ro.code, 0);
  assert.match(ro.stderr + ro.stdout, /Read-only file system/);
  const rw = await root.nb(['run', '--rm', 'busybox', 'sh', '-c', 'echo hi > /etc/written && cat /etc/written']);
  assert.equal(rw.stdout, 'hi\n');
  const again = await root.nb(['run', '--rm', 'busybox', 'cat', '/etc/written']);
  assert.notEqual(again.code, 0, 'a new container does not see the previous one\'s writes');
});

test('--memory and --cpus size the VM', async () => {
  const r = await root.nb(['run', '--rm', '--memory', '512m', '--cpus', '2', 'busybox', 'sh', '-c', 'grep MemTotal /proc/meminfo; nproc']);
  assert.equal(r.code, 0, r.stderr);
  const [mem, cpus] = r.stdout.trim().split('\n');
  const kb = Number(/(\d+)/.exec(mem!)![1]);
  assert.ok(kb > 400_000 && kb <= 524_288, `MemTotal ${kb} kB`);
  assert.equal(cpus, '2');
});
