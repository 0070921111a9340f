import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { TestRoot, processesMatching, type CliResult } from '../helpers/cli.js';

// Volumes, host directories and tmpfs, in both isolation modes, through the real CLI: data that
// was synced survives rm and a kill -9 of QEMU; :ro is enforced by the host; a share cannot be
// escaped; an ext4 volume has one writer at a time; a volume in use cannot be removed.
const root = new TestRoot();
const host = mkdtempSync(path.join(tmpdir(), 'nestbox-share-'));
const share = path.join(host, 'rw');
const readonly = path.join(host, 'ro');

async function ok(args: string[], what = args.join(' ')): Promise<string> {
  const r = await root.nb(args, { timeoutMs: 180_000 });
  assert.equal(r.code, 0, `${what}: exit ${r.code}\n${r.stderr}`);
  return r.stdout;
}
/** Fails with `message`; commands taking several names (rm, inspect) exit 1, as docker's do. */
async function fails(args: string[], message: RegExp, code = 125): Promise<CliResult> {
  const r = await root.nb(args, { timeoutMs: 180_000 });
  assert.equal(r.code, code, `${args.join(' ')} should fail: ${r.stdout}${r.stderr}`);
  assert.match(r.stderr, message);
  return r;
}

before(() => {
  mkdirSync(share);
  mkdirSync(readonly);
  writeFileSync(path.join(readonly, 'keep.txt'), 'host data\n');
  symlinkSync('/etc/shadow', path.join(share, 'escape'));
});
after(async () => {
  await root.dispose();
  rmSync(host, { recursive: true, force: true });
});

describe('volumes in a VM', () => {
  test('ext4 and host-directory volumes, binds, :ro, tmpfs; synced data survives kill -9 of QEMU', async () => {
    await ok(['volume', 'create', 'vmdata']);
    await ok(['volume', 'create', '--driver', 'hostdir', 'vmdir']);
    await ok(['volume', 'create', 'locked']);
    const id = (await ok([
      'run', '-d', '-v', 'vmdata:/data', '-v', 'vmdir:/dir', '-v', `${share}:/share`, '-v', `${readonly}:/ro:ro`, '-v', 'locked:/locked:ro',
      '--tmpfs', '/scratch:size=2m', 'busybox', 'sleep', '3600',
    ])).trim();
    const sh = (script: string) => root.nb(['exec', id, 'sh', '-c', script], { timeoutMs: 60_000 });

    const wrote = await sh('echo block > /data/f && echo dir > /dir/f && echo bind > /share/f && sync && cat /ro/keep.txt');
    assert.equal(wrote.code, 0, wrote.stderr);
    assert.equal(wrote.stdout, 'host data\n');
    assert.equal(readFileSync(path.join(share, 'f'), 'utf8'), 'bind\n', 'a bind mount writes through to the host directory');

    const ro = await sh('echo x > /ro/new; echo x > /locked/new; mount -o remount,rw /locked 2>&1 || echo refused');
    assert.match(ro.stderr, /\/ro\/new: Read-only file system/);
    assert.match(ro.stderr, /\/locked\/new: Read-only file system/);
    assert.match(ro.stdout, /refused|write-protected|read-only/i, 'the volume disk itself is read-only: remount rw fails');
    assert.equal(existsSync(path.join(readonly, 'new')), false);

    const esc = await sh('cat /share/escape; cat /share/../../etc/hostname; ls /share/..');
    assert.doesNotMatch(esc.stdout, /root:/, 'a symlink in the share resolves inside the guest, not to the host file');
    assert.equal(esc.stdout.split('\n')[0], (await sh('hostname')).stdout.trim(), '.. leaves the share into the guest root, not the host');

    const tmp = await sh('df -k /scratch | tail -1; mount | grep " /scratch "');
    assert.match(tmp.stdout, /tmpfs\s+2048/);

    const pid = JSON.parse(await ok(['inspect', id]))[0].State.Pid as number;
    process.kill(pid, 'SIGKILL');
    await ok(['wait', id]).catch(() => undefined);
    await ok(['rm', '-f', id]);

    // Read back from a process-isolated container: the same volumes, other isolation.
    const back = await ok(['run', '--rm', '--isolation', 'process', '-v', 'vmdata:/data', '-v', 'vmdir:/dir', 'busybox', 'cat', '/data/f', '/dir/f']);
    assert.equal(back, 'block\ndir\n');
    assert.deepEqual(await processesMatching(id), [], 'no QEMU left');
  });
});

describe('volumes under runc', () => {
  for (const driver of ['local', 'hostdir']) {
    test(`driver ${driver}: written by one container, read by the next; in use, it cannot be removed`, async () => {
      const name = `proc-${driver}`;
      await ok(['volume', 'create', '--driver', driver, name]);
      await ok(['run', '--rm', '--isolation', 'process', '-v', `${name}:/v`, 'busybox', 'sh', '-c', 'echo kept > /v/f; sync']);
      const c = (await ok(['create', '--isolation', 'process', '-v', `${name}:/v:ro`, 'busybox', 'cat', '/v/f'])).trim();
      await fails(['volume', 'rm', name], /volume is in use by container/, 1);
      assert.equal(await ok(['start', '-a', c]), 'kept\n');
      await ok(['rm', c]);
      const inspect = JSON.parse(await ok(['volume', 'inspect', name]))[0];
      assert.equal(inspect.Driver, driver);
      assert.equal(inspect.UsageData.RefCount, 0);
      assert.equal(await ok(['volume', 'rm', name]), `${name}\n`);
      assert.equal(existsSync(path.join(root.dir, 'volumes', name)), false);
    });
  }

  test('an ext4 volume has one writer: a second read-write mount is refused, read-only ones share', async () => {
    await ok(['volume', 'create', 'excl']);
    const a = (await ok(['run', '-d', '--isolation', 'process', '-v', 'excl:/v', 'busybox', 'sleep', '600'])).trim();
    await fails(['run', '--rm', '--isolation', 'process', '-v', 'excl:/v', 'busybox', 'true'], /volume excl is mounted read-write by running container/);
    await fails(['run', '--rm', '--isolation', 'process', '-v', 'excl:/v:ro', 'busybox', 'true'], /one container at a time/);
    await ok(['rm', '-f', a]);
    const b = (await ok(['run', '-d', '--isolation', 'process', '-v', 'excl:/v:ro', 'busybox', 'sleep', '600'])).trim();
    await ok(['run', '--rm', '--isolation', 'process', '-v', 'excl:/v:ro', 'busybox', 'true']);
    await ok(['rm', '-f', b]);
  });

  test('anonymous volumes go with --rm and rm -v, stay with plain rm; prune', async () => {
    const before = new Set((await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean));
    await ok(['run', '--rm', '--isolation', 'process', '-v', '/anon', 'busybox', 'touch', '/anon/x']);
    assert.deepEqual(new Set((await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean)), before, '--rm removed it');
    const c = (await ok(['create', '--isolation', 'process', '-v', '/anon', 'busybox', 'true'])).trim();
    await ok(['rm', c]);
    const left = (await ok(['volume', 'ls', '-q'])).split('\n').filter((n) => n && !before.has(n));
    assert.equal(left.length, 1);
    assert.match(await ok(['volume', 'prune', '-f']), new RegExp(`Deleted Volumes:\\n${left[0]}`));
    const d = (await ok(['create', '--isolation', 'process', '-v', '/anon', 'busybox', 'true'])).trim();
    await ok(['rm', '-v', d]);
    assert.deepEqual(new Set((await ok(['volume', 'ls', '-q'])).split('\n').filter(Boolean)), before);
  });

  test('bad mounts are refused before anything is created', async () => {
    const count = (await ok(['ps', '-aq'])).split('\n').filter(Boolean).length;
    await fails(['create', '-v', `${path.join(host, 'missing')}:/x`, 'busybox'], /bind source path does not exist/);
    await fails(['create', '-v', 'data:relative', 'busybox'], /must be absolute/);
    await fails(['create', '--mount', 'type=nfs,target=/x', 'busybox'], /unknown type "nfs"/);
    await fails(['create', '-v', 'a:/x', '--tmpfs', '/x', 'busybox'], /duplicate mount point/);
    await fails(['volume', 'create', '--driver', 'nfs', 'x'], /unknown volume driver "nfs"/);
    await fails(['volume', 'create', '-o', 'size=1k', 'tiny'], /too small/);
    await fails(['volume', 'inspect', 'nope'], /no such volume: nope/, 1);
    assert.equal((await ok(['ps', '-aq'])).split('\n').filter(Boolean).length, count);
    assert.equal(existsSync(path.join(root.dir, 'volumes', 'tiny')), false);
    assert.ok(statSync(path.join(root.dir, 'volumes')).isDirectory());
  });
});
