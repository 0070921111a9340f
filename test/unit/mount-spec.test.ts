import { test } from 'node:test';
import assert from 'node:assert/strict';
import { checkMounts, parseMountFlag, parseTmpfsFlag, parseVolumeFlag } from '../../src/core/mount-spec.js';
import { vmMountPlan } from '../../src/vm/mount-plan.js';

test('-v: named volume, host directory, anonymous volume, options', () => {
  assert.deepEqual(parseVolumeFlag('data:/var/lib/data'), { type: 'volume', source: 'data', target: '/var/lib/data', readOnly: false });
  assert.deepEqual(parseVolumeFlag('/srv/www:/usr/share/www/:ro'), { type: 'bind', source: '/srv/www', target: '/usr/share/www', readOnly: true });
  const anon = parseVolumeFlag('/cache');
  assert.equal(anon.type, 'volume');
  assert.match((anon as { source: string }).source, /^[0-9a-f]{64}$/);
  assert.equal((anon as { anonymous?: boolean }).anonymous, true);
  assert.equal(parseVolumeFlag('./rel:/x').type, 'bind');
  for (const [bad, why] of [
    ['data:relative', /must be absolute/],
    ['data:/', /root/],
    ['data:/a/../b', /\.\./],
    ['Bad Name:/x', /invalid volume name/],
    ['a:/b:rx', /unknown option "rx"/],
    ['a:b:c:d', /too many/],
    [':/x', /empty field/],
    ['data:/x\ty', /bad container path/],
  ] as const) {
    assert.throws(() => parseVolumeFlag(bad), why, bad);
  }
});

test('--mount and --tmpfs', () => {
  assert.deepEqual(parseMountFlag('type=bind,src=/srv,dst=/data,readonly'), { type: 'bind', source: '/srv', target: '/data', readOnly: true });
  assert.deepEqual(parseMountFlag('type=volume,source=v1,target=/v'), { type: 'volume', source: 'v1', target: '/v', readOnly: false });
  assert.deepEqual(parseMountFlag('type=tmpfs,target=/t,tmpfs-size=64m,tmpfs-mode=1777'), { type: 'tmpfs', target: '/t', readOnly: false, sizeBytes: 64 * 1024 ** 2, mode: 0o1777 });
  assert.throws(() => parseMountFlag('type=bind,src=rel,dst=/d'), /absolute/);
  assert.throws(() => parseMountFlag('type=nfs,target=/x'), /unknown type/);
  assert.throws(() => parseMountFlag('type=volume,source=a,target=/x,color=red'), /unknown field "color"/);
  assert.throws(() => parseMountFlag('type=volume,source=a'), /target is required/);
  assert.deepEqual(parseTmpfsFlag('/run:size=1m,mode=755'), { type: 'tmpfs', target: '/run', readOnly: false, sizeBytes: 1024 ** 2, mode: 0o755 });
  assert.throws(() => parseTmpfsFlag('/run:size=lots'), /invalid size/);
  assert.throws(() => checkMounts([parseVolumeFlag('a:/x'), parseTmpfsFlag('/x')]), /duplicate mount point: \/x/);
});

test('VM plan: disks and shares numbered, parents mounted first, MOUNT fields for the agent', () => {
  const plan = vmMountPlan([
    { kind: 'dir', target: '/a/b', readOnly: true, dir: '/srv' },
    { kind: 'block', target: '/a', readOnly: false, file: '/v/disk.ext4', name: 'v' },
    { kind: 'tmpfs', target: '/t', readOnly: false, options: 'size=1024' },
  ]);
  assert.deepEqual(plan.blk, [{ file: '/v/disk.ext4', serial: 'nbvol0', readOnly: false }]);
  assert.deepEqual(plan.fs, [{ dir: '/srv', tag: 'nbfs0', readOnly: true }]);
  assert.deepEqual(plan.guest, ['blk\tnbvol0\t/a\trw\t', 'tmpfs\t\t/t\trw\tsize=1024', '9p\tnbfs0\t/a/b\tro\t']);
});
