import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { TestRoot, processesMatching } from '../helpers/cli.js';

// --isolation=process: the same verbs on runc, through nestbox-shim.
const root = new TestRoot();
after(() => root.dispose());
const P = ['--isolation', 'process'];

test('process isolation runs on the host kernel with the same CLI', async () => {
  const r = await root.nb(['run', '--rm', ...P, 'busybox', 'sh', '-c', 'echo hello; uname -r']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, `hello\n${os.release()}\n`);
});

test('process isolation: exit codes, stdin, env, workdir, user, hostname', async () => {
  assert.equal((await root.nb(['run', '--rm', ...P, 'busybox', 'sh', '-c', 'exit 7'])).code, 7);
  assert.equal((await root.nb(['run', '--rm', ...P, 'busybox', 'sh', '-c', 'kill -9 $$'])).code, 137);
  const nf = await root.nb(['run', '--rm', ...P, 'busybox', 'no-such-command']);
  assert.equal(nf.code, 127);
  assert.match(nf.stderr, /no-such-command/);
  assert.equal((await root.nb(['run', '--rm', ...P, 'busybox', '/etc/passwd'])).code, 126);
  assert.equal((await root.nb(['run', '-i', '--rm', ...P, 'busybox', 'cat'], { input: 'abc\n' })).stdout, 'abc\n');
  const r = await root.nb(['run', '--rm', ...P, '-e', 'A=1', '-w', '/tmp', '-u', 'nobody', '--hostname', 'pbox', 'busybox', 'sh', '-c', 'echo $A; pwd; id -u; hostname']);
  assert.equal(r.code, 0, r.stderr);
  assert.deepEqual(r.stdout.trim().split('\n'), ['1', '/tmp', '65534', 'pbox']);
  assert.equal((await root.nb(['run', '--rm', ...P, '-u', '1234', 'busybox', 'id', '-g'])).stdout, '0\n', 'a uid without passwd entry gets gid 0, as in Docker and the VM');
  const ro = await root.nb(['run', '--rm', ...P, '--read-only', 'busybox', 'touch', '/x']);
  assert.notEqual(ro.code, 0);
  assert.match(ro.stderr, /Read-only file system/);
});

test('process isolation applies a seccomp filter: no new user or mount namespaces, no keyrings', async () => {
  const r = await root.nb(['run', '--rm', ...P, 'busybox', 'sh', '-c', 'unshare -U true 2>&1; echo userns=$?; unshare -m true 2>&1; echo mntns=$?; grep Seccomp: /proc/self/status']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /userns=1/);
  assert.match(r.stdout, /mntns=1/);
  assert.match(r.stdout, /Operation not permitted/);
  assert.match(r.stdout, /Seccomp:\s+2/);
});

test('process isolation: detached, exec, stop, rm -f leave no mount or process', async () => {
  const id = (await root.nb(['run', '-d', ...P, '--name', 'p1', 'busybox', 'sh', '-c', 'echo up; sleep 1000'])).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.equal((await root.nb(['exec', 'p1', 'echo', 'in-exec'])).stdout, 'in-exec\n');
  assert.equal((await root.nb(['exec', '-u', 'nobody', 'p1', 'id', '-u'])).stdout, '65534\n');
  assert.match((await root.nb(['ps'])).stdout, /process\s+p1/);
  assert.equal((await root.nb(['logs', 'p1'])).stdout, 'up\n');
  assert.equal((await root.nb(['stop', '-t', '5', 'p1'])).code, 0);
  assert.equal((await root.nb(['wait', 'p1'])).stdout, '143\n');
  await root.nb(['start', 'p1']);
  assert.equal((await root.nb(['rm', '-f', 'p1'])).code, 0);
  assert.equal(existsSync(path.join(root.dir, 'containers', id)), false);
  assert.ok(!readFileSync('/proc/self/mountinfo', 'utf8').includes(id), 'no overlay mount left');
  assert.deepEqual(await processesMatching(id), []);
});

test('run -d --rm: the first command that sees the container exited removes it', async () => {
  const id = (await root.nb(['run', '-d', '--rm', ...P, 'busybox', 'true'])).stdout.trim();
  assert.equal((await root.nb(['wait', id])).stdout, '0\n');
  assert.doesNotMatch((await root.nb(['ps', '-a', '--no-trunc'])).stdout, new RegExp(id));
  assert.equal(existsSync(path.join(root.dir, 'containers', id)), false);

  // a waiter that loses the race to another remover still gets the exit code
  const id2 = (await root.nb(['run', '-d', '--rm', ...P, 'busybox', 'sh', '-c', 'sleep 1; exit 3'])).stdout.trim();
  const waiting = root.nb(['wait', id2]);
  while ((await root.nb(['ps', '-aq', '--no-trunc'])).stdout.includes(id2)) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await waiting).stdout, '3\n');
});

test('process isolation: --memory and --cpus are cgroup limits; without them the container is unlimited, as in Docker', async () => {
  // dd's 100 MiB buffer cannot fit under 64 MiB (memory+swap): the kernel's OOM killer ends it
  const r = await root.nb(['run', '--rm', ...P, '--memory', '64m', 'busybox', 'sh', '-c', 'dd if=/dev/zero of=/dev/null bs=30M count=1 2>/dev/null; echo small=$?; dd if=/dev/zero of=/dev/null bs=100M count=1 2>/dev/null; echo big=$?']);
  assert.equal(r.code, 0, r.stderr);
  assert.match(r.stdout, /small=0\nbig=137\n/);
  const id = (await root.nb(['run', '-d', ...P, '--cpus', '0.5', '--memory', '100m', 'busybox', 'sleep', '1000'])).stdout.trim();
  try {
    const cg = (controller: string, file: string) => readFileSync(path.join(cgroupDir(path.join('/sys/fs/cgroup', controller), id)!, file), 'utf8').trim();
    if (cgroupDir('/sys/fs/cgroup/cpu', id) && cgroupDir('/sys/fs/cgroup/memory', id)) {
      // cgroup v1 (this machine): runc names the cgroup after the container id, under the
      // caller's own cgroup of each controller
      assert.equal(cg('cpu', 'cpu.cfs_quota_us'), '50000');
      assert.equal(cg('cpu', 'cpu.cfs_period_us'), '100000');
      assert.equal(cg('memory', 'memory.limit_in_bytes'), String(100 * 1024 ** 2));
    }
    const hc = JSON.parse((await root.nb(['inspect', id])).stdout)[0].HostConfig;
    assert.equal(hc.NanoCpus, 5e8);
    assert.equal(hc.Memory, 100 * 1024 ** 2);
  } finally {
    await root.nb(['rm', '-f', id]);
  }
  const free = (await root.nb(['create', ...P, 'busybox', 'true'])).stdout.trim();
  const hc = JSON.parse((await root.nb(['inspect', free])).stdout)[0].HostConfig;
  assert.deepEqual([hc.Memory, hc.NanoCpus], [0, 0]);
  await root.nb(['rm', free]);
});

/** The directory named `name` under a cgroup v1 hierarchy, at most 3 levels down. */
function cgroupDir(base: string, name: string, depth = 3): string | undefined {
  if (!existsSync(base)) return undefined;
  if (existsSync(path.join(base, name))) return path.join(base, name);
  if (depth === 0) return undefined;
  for (const d of readdirSync(base, { withFileTypes: true })) {
    if (!d.isDirectory()) continue;
    const found = cgroupDir(path.join(base, d.name), name, depth - 1);
    if (found) return found;
  }
  return undefined;
}
