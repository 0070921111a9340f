import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { Lock } from '../../src/core/lock.js';
import { sha256Digest } from '../../src/image/digest.js';
import type { IndexData } from '../../src/image/index-file.js';
import { StoreLayout } from '../../src/image/store-layout.js';
import type { ImageStore } from '../../src/image/store.js';
import { defaultImageTar, listDir, rawTar, storeContents, storeFixture, writeOciArchive } from './helpers.js';

const run = promisify(execFile);
const fx = storeFixture();
let n = 0;

/** A small image of its own (one file), untagged unless `name`; `shared` adds a layer common to all such images. */
async function loadSmall(store: ImageStore, opts: { name?: string; shared?: boolean } = {}) {
  const own = await rawTar([{ name: `file-${n}`, data: `image ${n}` }]);
  const common = await rawTar([{ name: 'common', data: 'the same in every image' }]);
  const { file } = await writeOciArchive(fx.root, `small-${n++}.tar`, { layers: opts.shared ? [common, own] : [own], name: opts.name });
  const [image] = await store.load(file);
  return image!;
}

const hexOf = (digest: string) => digest.slice('sha256:'.length);

describe('image prune', () => {
  it('removes dangling images no container uses, with their blobs and caches; keeps tagged and used ones', async () => {
    const { dir, store } = fx.freshStore();
    const [busybox] = await store.load(await defaultImageTar());
    await store.rootfsDisk(busybox!);
    const dangling = await loadSmall(store, { shared: true });
    const used = await loadSmall(store);
    const tagged = await loadSmall(store, { name: 'keep/me:1', shared: true });
    assert.deepEqual(dangling.repoTags, []);
    await store.rootfsDir(dangling);

    const layersOf = async (id: string): Promise<string[]> => (await storedIndex(dir)).images[id]!.layers.map((l) => l.digest);
    const [danglingLayers, taggedLayers] = [await layersOf(dangling.id), await layersOf(tagged.id)];
    assert.equal(danglingLayers.filter((d) => taggedLayers.includes(d)).length, 1, 'one layer shared');

    const r = await store.prune({ isUsed: (id) => id === used.id });
    assert.deepEqual(r.deleted, [dangling.id]);
    assert.deepEqual(r.untagged, []);
    assert.deepEqual(r.caches, [dangling.chainId]);
    assert.deepEqual(r.downloads, []);
    assert.deepEqual(r.blobs.sort(), [dangling.id, dangling.manifestDigest, ...danglingLayers.filter((d) => !taggedLayers.includes(d))].sort());
    assert.ok(r.reclaimedBytes > 0);
    assert.deepEqual((await store.list()).map((i) => i.id).sort(), [busybox!.id, used.id, tagged.id].sort());
    // Every blob an image still references stays.
    const blobs = new Set((await storeContents(dir)).blobs);
    for (const img of Object.values((await storedIndex(dir)).images)) {
      for (const d of [img.id, img.manifestDigest, ...img.layers.map((l) => l.digest)]) assert.ok(blobs.has(hexOf(d)), `kept ${d}`);
    }
    // The rootfs and disk of images that stay are untouched; the dangling image's rootfs is gone.
    const { rootfs, disks } = await storeContents(dir);
    assert.ok(rootfs.includes(hexOf(busybox!.chainId)) && disks.includes(`${hexOf(busybox!.chainId)}.erofs`));
    assert.ok(!rootfs.includes(hexOf(dangling.chainId)));

    // Nothing left to do: a second prune deletes nothing.
    const again = await store.prune({ isUsed: (id) => id === used.id });
    assert.deepEqual(again, { untagged: [], deleted: [], blobs: [], caches: [], downloads: [], reclaimedBytes: 0 });
  });

  it('with all, removes every image no container uses, tagged or not', async () => {
    const { dir, store } = fx.freshStore();
    const [busybox] = await store.load(await defaultImageTar());
    await store.tag('busybox', 'also/busybox:2');
    const used = await loadSmall(store, { name: 'in/use:1' });
    const r = await store.prune({ all: true, isUsed: (id) => id === used.id });
    assert.deepEqual(r.deleted, [busybox!.id]);
    assert.deepEqual(r.untagged.sort(), ['docker.io/also/busybox:2', 'docker.io/library/busybox:latest']);
    assert.deepEqual((await store.list()).map((i) => i.id), [used.id]);
    const { blobs, rootfs } = await storeContents(dir);
    assert.equal(blobs.length, 3, 'config, manifest and layer of the used image');
    assert.deepEqual(rootfs, [hexOf(used.chainId)]);
  });

  it('collects blobs, rootfs dirs and disks nothing references, but not what a pull holds or a mount uses', async () => {
    const { dir, store } = fx.freshStore();
    const [busybox] = await store.load(await defaultImageTar());
    const layout = new StoreLayout(dir);
    const stray = sha256Digest('stray blob');
    const held = sha256Digest('blob a pull is committing');
    await fs.writeFile(path.join(layout.blobs, hexOf(stray)), 'stray blob');
    await fs.writeFile(path.join(layout.blobs, hexOf(held)), 'blob a pull is committing');
    await fs.writeFile(path.join(layout.blobs, 'not-a-digest'), 'left alone');
    const orphanChain = sha256Digest('orphan chain');
    const mountedChain = sha256Digest('chain of a running container whose image was force-removed');
    await fs.mkdir(path.join(layout.rootfsDir(hexOf(orphanChain)), 'bin'), { recursive: true });
    await fs.writeFile(path.join(layout.rootfsDir(hexOf(orphanChain)), 'bin', 'tool'), 'x'.repeat(10_000));
    await fs.writeFile(layout.diskFile(hexOf(orphanChain)), 'erofs bytes');
    await fs.mkdir(layout.rootfsDir(hexOf(mountedChain)));
    await fs.writeFile(path.join(layout.rootfsDir(hexOf(mountedChain)), 'data'), 'in use');

    const ovl = path.join(fx.root, `overlay-${n++}`);
    for (const d of ['upper', 'work', 'merged']) await fs.mkdir(path.join(ovl, d), { recursive: true });
    await run('mount', ['-t', 'overlay', 'overlay', '-o', `lowerdir=${path.resolve(layout.rootfsDir(hexOf(mountedChain)))},upperdir=${ovl}/upper,workdir=${ovl}/work`, `${ovl}/merged`]);
    const lock = await Lock.acquire(layout.lockScope, `blob:${held}`);
    let r;
    try {
      r = await store.prune();
    } finally {
      await lock.release();
      await run('umount', [`${ovl}/merged`]);
    }
    assert.deepEqual(r.deleted, []);
    assert.deepEqual(r.blobs, [stray]);
    assert.deepEqual(r.caches, [orphanChain]);
    assert.ok(r.reclaimedBytes >= 10_000);
    const c = await storeContents(dir);
    assert.ok(c.blobs.includes(hexOf(held)) && c.blobs.includes('not-a-digest') && !c.blobs.includes(hexOf(stray)));
    assert.deepEqual(c.rootfs.sort(), [hexOf(busybox!.chainId), hexOf(mountedChain)].sort());
    assert.deepEqual(c.disks, []);
    assert.deepEqual(c.tmp, [], 'removed rootfs dirs do not linger in tmp/');

    // Unmounted, the orphan goes too; the busybox image's files stay.
    assert.deepEqual((await store.prune()).caches, [mountedChain]);
    assert.equal((await store.resolve('busybox')).id, busybox!.id);
    assert.ok((await fs.stat(path.join(await store.rootfsDir(busybox!), 'bin/busybox'))).isFile());
  });

  it('removes download leftovers unless their pull is running; a missing downloads dir is fine', async () => {
    const { dir, store } = fx.freshStore();
    await store.load(await defaultImageTar());
    const layout = new StoreLayout(dir);
    await fs.rm(layout.downloads, { recursive: true, force: true });
    assert.deepEqual((await store.prune()).downloads, []);

    await fs.mkdir(layout.downloads, { recursive: true });
    const done = hexOf(sha256Digest('a verified download'));
    const partial = hexOf(sha256Digest('an interrupted download'));
    const active = hexOf(sha256Digest('a download in progress'));
    for (const name of [done, `${partial}.partial`, `${active}.partial`, 'unrelated']) await fs.writeFile(path.join(layout.downloads, name), 'bytes');
    const lock = await Lock.acquire(layout.lockScope, `blob:sha256:${active}`);
    try {
      const r = await store.prune();
      assert.deepEqual(r.downloads.sort(), [done, `${partial}.partial`].sort());
      assert.equal(r.deleted.length, 0);
    } finally {
      await lock.release();
    }
    assert.deepEqual(await listDir(layout.downloads), [`${active}.partial`, 'unrelated']);
  });
});

async function storedIndex(dir: string): Promise<IndexData> {
  return JSON.parse(await fs.readFile(path.join(dir, 'index.json'), 'utf8')) as IndexData;
}
