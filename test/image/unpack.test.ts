import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { ImageError } from '../../src/core/errors.js';
import { sha256Digest } from '../../src/image/digest.js';
import { ImageStore } from '../../src/image/store.js';
import { Unpacker } from '../../src/image/unpack.js';
import { makeCanary, rawTar, storeContents, tempDir, writeOciArchive, type RawEntry } from './helpers.js';

let root: string;
before(async () => {
  root = await tempDir();
});
after(async () => {
  await fs.rm(root, { recursive: true, force: true });
});

/** Write layers as files (gzip for odd ones, to exercise both) and describe them for the Unpacker. */
async function layerFiles(dir: string, layers: RawEntry[][]) {
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const out = [];
  for (const [i, entries] of layers.entries()) {
    const tar = await rawTar(entries);
    const file = path.join(dir, `layer${i}`);
    await fs.writeFile(file, i % 2 ? gzipSync(tar) : tar);
    out.push({ digest: sha256Digest(await fs.readFile(file)), file, diffId: sha256Digest(tar) });
  }
  return out;
}

describe('unpack', () => {
  it('applies whiteouts and opaque dirs against lower layers only', async () => {
    const layers = await layerFiles(path.join(root, 'wh'), [
      [
        { name: 'a/', type: 'directory' },
        { name: 'a/keep', data: 'k' },
        { name: 'a/gone', data: 'g' },
        { name: 'a/gonedir/', type: 'directory' },
        { name: 'a/gonedir/f', data: 'f' },
        { name: 'b/', type: 'directory' },
        { name: 'b/old1', data: '1' },
        { name: 'b/sub/', type: 'directory' },
        { name: 'b/sub/old2', data: '2' },
        { name: 'c/', type: 'directory' },
        { name: 'c/lower', data: 'l' },
        { name: 'x', data: 'old' },
        { name: 'link', type: 'symlink', linkname: 'a/keep' },
      ],
      [
        { name: 'a/.wh.gone' },
        { name: 'a/.wh.gonedir' },
        { name: 'b/new', data: 'n' },
        { name: 'b/.wh..wh..opq' },
        { name: 'c/.wh..wh..opq' },
        { name: 'c/upper', data: 'u' },
        { name: 'x', data: 'new' },
        { name: '.wh.x' },
        { name: '.wh.link' },
        { name: '.wh.never-existed' },
      ],
    ]);
    const dest = path.join(root, 'wh', 'rootfs');
    await new Unpacker().unpack(layers, dest);
    const ls = async (rel: string) => (await fs.readdir(path.join(dest, rel))).sort();
    assert.deepEqual(await ls('.'), ['a', 'b', 'c', 'x']);
    assert.deepEqual(await ls('a'), ['keep']);
    assert.deepEqual(await ls('b'), ['new']);
    assert.deepEqual(await ls('c'), ['upper']);
    assert.equal(await fs.readFile(path.join(dest, 'x'), 'utf8'), 'new');
  });

  it('keeps modes (setuid too), owners, mtimes, links, fifos and device nodes', async () => {
    const mtime = new Date('2020-02-02T02:02:02Z');
    const layers = await layerFiles(path.join(root, 'meta'), [
      [
        { name: 'bin/', type: 'directory', mode: 0o750, uid: 123, gid: 456, mtime },
        { name: 'bin/su', data: 'ELF', mode: 0o4755, uid: 0, gid: 0, mtime },
        { name: 'bin/tool', data: 'x', mode: 0o2711, uid: 1000, gid: 1000, mtime },
        { name: 'bin/hard', type: 'link', linkname: 'bin/tool' },
        { name: 'bin/sym', type: 'symlink', linkname: '/etc/shadow', uid: 7, gid: 8, mtime },
        { name: 'dev/null', type: 'character-device', devmajor: 1, devminor: 3, mode: 0o666, mtime },
        { name: 'run/fifo', type: 'fifo', mode: 0o600 },
        { name: 'tmp/', type: 'directory', mode: 0o1777 },
      ],
    ]);
    const dest = path.join(root, 'meta', 'rootfs');
    await new Unpacker().unpack(layers, dest);
    const st = (rel: string) => fs.lstat(path.join(dest, rel));
    const bin = await st('bin');
    assert.deepEqual([bin.mode & 0o7777, bin.uid, bin.gid, bin.mtime.getTime()], [0o750, 123, 456, mtime.getTime()]);
    const su = await st('bin/su');
    assert.deepEqual([su.mode & 0o7777, su.uid, su.mtime.getTime()], [0o4755, 0, mtime.getTime()]);
    const tool = await st('bin/tool');
    assert.deepEqual([tool.mode & 0o7777, tool.uid, tool.gid, tool.nlink], [0o2711, 1000, 1000, 2]);
    assert.equal((await st('bin/hard')).ino, tool.ino);
    assert.equal(await fs.readlink(path.join(dest, 'bin/sym')), '/etc/shadow');
    assert.deepEqual([(await st('bin/sym')).uid, (await st('bin/sym')).mtime.getTime()], [7, mtime.getTime()]);
    const dev = await st('dev/null');
    assert.ok(dev.isCharacterDevice());
    assert.equal(dev.rdev, (1 << 8) | 3);
    assert.ok((await st('run/fifo')).isFIFO());
    assert.equal((await st('tmp')).mode & 0o7777, 0o1777);
  });

  it('refuses device nodes unless the rootfs lives in a private (0700) directory', async () => {
    const dir = path.join(root, 'public');
    const layers = await layerFiles(dir, [[{ name: 'dev/sda', type: 'block-device', devmajor: 8, devminor: 0 }]]);
    await fs.chmod(dir, 0o755);
    const dest = path.join(dir, 'rootfs');
    await assert.rejects(new Unpacker().unpack(layers, dest), /entry `dev\/sda` is a device node/);
    await assert.rejects(fs.lstat(dest), { code: 'ENOENT' });
  });

  it('stops a decompression bomb and removes the partial rootfs', async () => {
    const layers = await layerFiles(path.join(root, 'bomb'), [[{ name: 'small', data: 'x' }], [{ name: 'zeros', data: Buffer.alloc(4 << 20) }]]);
    const dest = path.join(root, 'bomb', 'rootfs');
    await assert.rejects(new Unpacker({ maxBytes: 1 << 20 }).unpack(layers, dest), (err: unknown) => {
      assert.ok(err instanceof ImageError);
      assert.match(err.message, /^unpack layer sha256:[0-9a-f]{12}…: decompression bomb/);
      return true;
    });
    await assert.rejects(fs.lstat(dest), { code: 'ENOENT' });
  });

  it('refuses a truncated layer and a diff ID mismatch', async () => {
    const [layer] = await layerFiles(path.join(root, 'trunc'), [[{ name: 'f', data: Buffer.alloc(10000, 1) }]]);
    const bytes = await fs.readFile(layer!.file);
    await fs.writeFile(layer!.file, bytes.subarray(0, 3000));
    await assert.rejects(new Unpacker().unpack([layer!], path.join(root, 'trunc', 'r1')), /corrupt or truncated layer/);
    await fs.writeFile(layer!.file, bytes);
    await assert.rejects(new Unpacker().unpack([{ ...layer!, diffId: sha256Digest('other') }], path.join(root, 'trunc', 'r2')), /hashes to sha256:.*config says/);
    assert.deepEqual((await fs.readdir(path.join(root, 'trunc'))).sort(), ['layer0']);
  });
});

describe('hostile layers are refused at load, leaving nothing behind', () => {
  let store: ImageStore;
  let storeRoot: string;
  let canary: Awaited<ReturnType<typeof makeCanary>>;
  let n = 0;
  before(async () => {
    storeRoot = path.join(root, 'hostile-store');
    store = new ImageStore(storeRoot);
    canary = await makeCanary(root);
  });

  const up = '../'.repeat(12);
  const cases: [string, (c: string) => RawEntry[][], RegExp][] = [
    ['absolute path', (c) => [[{ name: `${c}/pwned`, data: 'x' }]], /entry `\/.*\/pwned` is an absolute path/],
    ['.. escape', (c) => [[{ name: `${up}${c.slice(1)}/pwned`, data: 'x' }]], /escapes the rootfs/],
    ['.. escape in the middle', () => [[{ name: 'a/../../pwned', data: 'x' }]], /escapes the rootfs/],
    ['write through a symlink (same layer)', (c) => [[{ name: 'evil', type: 'symlink', linkname: c }, { name: 'evil/pwned', data: 'x' }]], /entry `evil\/pwned` goes through the symlink `evil`/],
    ['write through a symlink (lower layer)', (c) => [[{ name: 'evil', type: 'symlink', linkname: c }], [{ name: 'evil/secret', data: 'x' }]], /goes through the symlink `evil`/],
    ['write through a relative symlink', (c) => [[{ name: 'd/', type: 'directory' }, { name: 'd/e', type: 'symlink', linkname: `${up}${c.slice(1)}` }, { name: 'd/e/secret', data: 'x' }]], /goes through the symlink `d\/e`/],
    ['directory through a symlink', (c) => [[{ name: 's', type: 'symlink', linkname: c }, { name: 's/sub/', type: 'directory' }]], /goes through the symlink `s`/],
    ['symlink through a symlink', (c) => [[{ name: 's', type: 'symlink', linkname: c }, { name: 's/l', type: 'symlink', linkname: '/' }]], /goes through the symlink `s`/],
    ['hardlink escaping with ..', (c) => [[{ name: 'h', type: 'link', linkname: `${up}${c.slice(1)}/secret` }]], /entry `h` is a hardlink to .*escapes the rootfs/],
    ['hardlink to an absolute path', (c) => [[{ name: 'h', type: 'link', linkname: `${c}/secret` }]], /is a hardlink to .*absolute path/],
    ['hardlink through a symlink', (c) => [[{ name: 's', type: 'symlink', linkname: c }, { name: 'h', type: 'link', linkname: 's/secret' }]], /is a hardlink to `s\/secret`, which goes through the symlink `s`/],
    ['whiteout through a symlink', (c) => [[{ name: 's', type: 'symlink', linkname: c }], [{ name: 's/.wh.secret' }]], /entry `s\/.wh.secret` goes through the symlink `s`/],
    ['opaque dir through a symlink', (c) => [[{ name: 's', type: 'symlink', linkname: c }], [{ name: 's/.wh..wh..opq' }]], /goes through the symlink `s`/],
    ['over-long name component', () => [[{ name: `${'a'.repeat(300)}`, data: 'x' }]], /longer than 255 bytes/],
    ['over-long path', () => [[{ name: `${'abcdefgh/'.repeat(500)}f`, data: 'x' }]], /longer than 4096 bytes/],
  ];

  for (const [title, layers, message] of cases) {
    it(title, async () => {
      const archive = await writeOciArchive(root, `hostile-${n++}.tar`, { layers: await Promise.all(layers(canary.dir).map(rawTar)) });
      await assert.rejects(store.load(archive.file), (err: unknown) => {
        assert.ok(err instanceof ImageError, String(err));
        assert.match(err.message, /^load `.*`: unpack layer sha256:[0-9a-f]{12}…: entry /);
        assert.match(err.message, message);
        return true;
      });
      await canary.assertUntouched();
      assert.deepEqual(await store.list(), []);
      assert.deepEqual(await storeContents(storeRoot), { blobs: [], rootfs: [], disks: [], tmp: [] });
    });
  }

  it('replaces a symlink with a file without following it', async () => {
    const layers = [[{ name: 'f', type: 'symlink', linkname: `${canary.dir}/secret` }], [{ name: 'f', data: 'replaced' }]] satisfies RawEntry[][];
    const archive = await writeOciArchive(root, 'replace.tar', { layers: await Promise.all(layers.map(rawTar)), name: 'replace:1' });
    const [image] = await store.load(archive.file);
    const dir = await store.rootfsDir(image!);
    assert.equal(await fs.readFile(path.join(dir, 'f'), 'utf8'), 'replaced');
    assert.ok((await fs.lstat(path.join(dir, 'f'))).isFile());
    await canary.assertUntouched();
  });
});
