import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, spawn } from 'node:child_process';
import { once } from 'node:events';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { ImageStore } from '../../src/image/store.js';
import { defaultImageTar, storeContents, tempDir } from './helpers.js';

const run = promisify(execFile);
const CHILD = fileURLToPath(new URL('./fixtures/build-child.ts', import.meta.url));

let root: string;
before(async () => {
  root = await tempDir();
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

describe('rootfs disk', () => {
  it('is an erofs image that fsck.erofs accepts, holding the busybox binary', async () => {
    const store = new ImageStore(path.join(root, 'store-a'));
    const [image] = await store.load(await defaultImageTar());
    const disk = await store.rootfsDisk(image!);
    assert.equal(disk, path.join(root, 'store-a', 'disks', `${image!.chainId.slice(7)}.erofs`));
    assert.equal(await store.rootfsDisk(image!), disk);
    await run('fsck.erofs', [disk]);
    const { stdout } = await run('dump.erofs', ['--path=/bin/busybox', disk]);
    const busyboxSize = (await fs.stat('/bin/busybox')).size;
    assert.match(stdout, new RegExp(`Size: ${busyboxSize}\\b`));
    assert.match(stdout, /Access: 0755/);
    assert.match(stdout, /Compression ratio: 100\.00%/); // uncompressed
    const out = path.join(root, 'extracted');
    await run('fsck.erofs', [`--extract=${out}`, disk]);
    assert.deepEqual(await fs.readFile(path.join(out, 'bin/busybox')), await fs.readFile('/bin/busybox'));
    assert.equal(await fs.readlink(path.join(out, 'bin/sh')), 'busybox');
    assert.equal((await fs.stat(path.join(out, 'tmp'))).mode & 0o7777, 0o1777);
  });

  it('is built once when two processes ask for it at the same time', async () => {
    const dir = path.join(root, 'store-b');
    const store = new ImageStore(dir);
    const [image] = await store.load(await defaultImageTar());
    // Drop the rootfs that load left, so both the rootfs and the disk are raced for.
    await fs.rm(await store.rootfsDir(image!), { recursive: true });
    const children = [0, 1].map(() => spawn(process.execPath, ['--import', 'tsx', CHILD, dir], { stdio: ['pipe', 'pipe', 'inherit'] }));
    const outputs = children.map((c) => {
      let text = '';
      c.stdout!.setEncoding('utf8').on('data', (d: string) => (text += d));
      return { get text() { return text; } };
    });
    await Promise.all(outputs.map(async (o, i) => {
      while (!o.text.includes('ready\n')) await once(children[i]!.stdout!, 'data');
    }));
    for (const c of children) c.stdin!.write('go\n');
    const codes = await Promise.all(children.map(async (c) => (await once(c, 'exit'))[0]));
    assert.deepEqual(codes, [0, 0]);
    const all = outputs.map((o) => o.text).join('');
    assert.equal(all.match(/^built rootfs$/gm)?.length, 1, all);
    assert.equal(all.match(/^built disk$/gm)?.length, 1, all);
    const disks = [...all.matchAll(/^disk (\S+) (\d+)$/gm)];
    assert.equal(disks.length, 2);
    assert.equal(disks[0]![1], disks[1]![1]);
    assert.equal(disks[0]![2], disks[1]![2]);
    assert.equal(String((await fs.stat(disks[0]![1]!)).ino), disks[0]![2]);
    assert.deepEqual((await storeContents(dir)).tmp, []);
    await run('fsck.erofs', [disks[0]![1]!]);
  });
});
