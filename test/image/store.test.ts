import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../../src/core/errors.js';
import { ensureDefaultImage, isDefaultImageRef } from '../../src/image/default-image.js';
import { makeOciImage, ociArchiveBytes } from '../../src/image/oci-write.js';
import { ImageStore } from '../../src/image/store.js';
import { defaultImageTar, rawTar, storeContents, storeFixture, writeOciArchive } from './helpers.js';

const BUSYBOX = 'docker.io/library/busybox:latest';
const fx = storeFixture();
const { freshStore } = fx;

describe('resolve', () => {
  it('finds an image by name, tag, full/short ID and digest', async () => {
    const { store } = freshStore();
    const [image] = await store.load(await defaultImageTar());
    const id = image!.id;
    const hex = id.slice(7);
    for (const ref of ['busybox', 'busybox:latest', 'library/busybox', 'docker.io/library/busybox:latest', id, hex, hex.slice(0, 12), hex.slice(0, 4), `sha256:${hex.slice(0, 8)}`, `busybox@${image!.manifestDigest}`]) {
      assert.equal((await store.resolve(ref)).id, id, ref);
    }
    assert.deepEqual((await store.list()).map((i) => i.id), [id]);
  });

  it('throws NotFoundError with a hint, and InvalidArgumentError for malformed references', async () => {
    const { store } = freshStore();
    await store.load(await defaultImageTar());
    for (const ref of ['alpine', 'busybox:1.0', 'sha256:' + 'f'.repeat(64), 'abc', `busybox@sha256:${'0'.repeat(64)}`]) {
      await assert.rejects(store.resolve(ref), (err: unknown) => {
        assert.ok(err instanceof NotFoundError, `${ref}: ${String(err)}`);
        assert.equal(err.message, `no such image: ${ref} (load it with \`nestbox load -i FILE\`)`);
        return true;
      });
    }
    await assert.rejects(store.resolve('Bad:Ref:x'), InvalidArgumentError);
    assert.equal(await store.find('alpine'), undefined);
  });

  it('refuses an ambiguous short ID', async () => {
    // Find two tiny images whose IDs share their first 4 hex digits (birthday search over labels).
    const seen = new Map<string, ReturnType<typeof makeOciImage>>();
    let pair: [ReturnType<typeof makeOciImage>, ReturnType<typeof makeOciImage>] | undefined;
    for (let i = 0; pair === undefined; i++) {
      const image = makeOciImage({ layers: [], config: { Labels: { i: String(i) } }, name: `tiny:${i}` });
      const prefix = image.configDigest.slice(7, 11);
      const other = seen.get(prefix);
      if (other) pair = [other, image];
      else seen.set(prefix, image);
    }
    const { store } = freshStore();
    for (const [i, image] of pair.entries()) {
      const file = path.join(fx.root, `tiny-${i}.tar`);
      await fs.writeFile(file, await ociArchiveBytes(image));
      await store.load(file);
    }
    const prefix = pair[0].configDigest.slice(7, 11);
    await assert.rejects(store.resolve(prefix), (err: unknown) => err instanceof InvalidArgumentError && /ambiguous/.test(err.message));
    assert.equal((await store.resolve(pair[1].configDigest.slice(7, 30))).id, pair[1].configDigest);
  });
});

describe('tag and remove', () => {
  it('untags while other tags remain, deletes the image and its files with the last one', async () => {
    const { dir, store } = freshStore();
    const [image] = await store.load(await defaultImageTar());
    await store.rootfsDisk(image!);
    await store.tag('busybox', 'myorg/tool:1');
    assert.deepEqual((await store.resolve('myorg/tool:1')).repoTags.sort(), [BUSYBOX, 'docker.io/myorg/tool:1']);
    await assert.rejects(store.tag('busybox', `x@sha256:${'a'.repeat(64)}`), InvalidArgumentError);

    assert.deepEqual(await store.remove('myorg/tool:1'), { untagged: ['docker.io/myorg/tool:1'], deleted: [] });
    await assert.rejects(store.resolve('myorg/tool:1'), NotFoundError);
    assert.equal((await store.resolve('busybox')).id, image!.id);

    await store.tag(image!.id, 'again:2');
    await assert.rejects(store.remove(image!.id.slice(7, 19)), (err: unknown) => err instanceof ConflictError && /referenced by busybox:latest, again:2/.test(err.message));
    const removed = await store.remove(image!.id.slice(7, 19), { force: true });
    assert.deepEqual(removed.untagged.sort(), ['docker.io/library/again:2', BUSYBOX]);
    assert.deepEqual(removed.deleted, [image!.id]);
    assert.deepEqual(await store.list(), []);
    assert.deepEqual(await storeContents(dir), { blobs: [], rootfs: [], disks: [], tmp: [] });
    await assert.rejects(store.remove('busybox'), NotFoundError);
  });

  it('refuses to remove an image a container uses, unless forced (then keeps its rootfs)', async () => {
    const { dir, store } = freshStore();
    const [image] = await store.load(await defaultImageTar());
    const disk = await store.rootfsDisk(image!);
    const asked: string[] = [];
    const isUsed = (id: string) => {
      asked.push(id);
      return true;
    };
    await assert.rejects(store.remove('busybox', { isUsed }), (err: unknown) => err instanceof ConflictError && err.code === 'IMAGE_IN_USE' && /used by a container/.test(err.message));
    assert.deepEqual(asked, [image!.id]);
    assert.equal((await store.resolve('busybox')).id, image!.id);
    assert.deepEqual(await store.remove('busybox', { isUsed, force: true }), { untagged: [BUSYBOX], deleted: [image!.id] });
    assert.deepEqual(await store.list(), []);
    const left = await storeContents(dir);
    assert.deepEqual(left.blobs, []);
    assert.equal(left.rootfs.length, 1);
    assert.ok(await fs.stat(disk));
  });

  it('keeps layers, rootfs and disks that another image still needs', async () => {
    const { dir, store } = freshStore();
    const base = await rawTar([{ name: 'base', data: 'b' }]);
    const a = await writeOciArchive(fx.root, 'a.tar', { layers: [base], name: 'a:1' });
    const b = await writeOciArchive(fx.root, 'b.tar', { layers: [base, await rawTar([{ name: 'top', data: 't' }])], name: 'b:1' });
    const [imgA] = await store.load(a.file);
    const [imgB] = await store.load(b.file);
    await store.rootfsDisk(imgA!);
    await store.rootfsDisk(imgB!);
    const before = await storeContents(dir);
    assert.deepEqual(await store.remove('b:1'), { untagged: ['docker.io/library/b:1'], deleted: [imgB!.id] });
    const afterRemove = await storeContents(dir);
    // Exactly a's blobs are left: its manifest, config and the layer it shared with b.
    assert.deepEqual(afterRemove.blobs.sort(), [...a.blobs.keys()].map((d) => d.slice(7)).sort());
    assert.deepEqual(afterRemove.rootfs, [imgA!.chainId.slice(7)]);
    assert.deepEqual(afterRemove.disks, [`${imgA!.chainId.slice(7)}.erofs`]);
    assert.equal(before.rootfs.length, 2);
    assert.equal(await fs.readFile(path.join(await store.rootfsDir(imgA!), 'base'), 'utf8'), 'b');
  });

  it('moves a tag loaded onto a new image, leaving the old one untagged', async () => {
    const { store } = freshStore();
    const v1 = await writeOciArchive(fx.root, 'v1.tar', { layers: [await rawTar([{ name: 'v', data: '1' }])], name: 'app:latest' });
    const v2 = await writeOciArchive(fx.root, 'v2.tar', { layers: [await rawTar([{ name: 'v', data: '2' }])], name: 'app:latest' });
    await store.load(v1.file);
    await store.load(v2.file);
    assert.equal((await store.resolve('app')).id, v2.configDigest);
    assert.deepEqual((await store.resolve(v1.configDigest)).repoTags, []);
    assert.deepEqual(await store.remove(v1.configDigest), { untagged: [], deleted: [v1.configDigest] });
  });
});

describe('default image', () => {
  it('is loaded on first use from the archive outside the store', async () => {
    const { store } = freshStore();
    const tar = await defaultImageTar();
    assert.ok(isDefaultImageRef('busybox') && isDefaultImageRef('docker.io/library/busybox:latest') && !isDefaultImageRef('busybox:1'));
    assert.equal(await ensureDefaultImage(store, 'alpine', tar), undefined);
    assert.deepEqual(await store.list(), []);
    const loaded = await ensureDefaultImage(store, 'busybox', tar);
    assert.deepEqual(loaded!.repoTags, [BUSYBOX]);
    assert.equal((await ensureDefaultImage(store, tar)).id, loaded!.id);
    assert.equal((await store.resolve('busybox:latest')).id, loaded!.id);
  });

  it('works from a resolve override (as core does) and explains a missing archive', async () => {
    const tar = await defaultImageTar();
    class Images extends ImageStore {
      constructor(dir: string, private readonly tarPath: string) {
        super(dir);
      }
      override async resolve(ref: string) {
        await ensureDefaultImage(this, ref, this.tarPath);
        return super.resolve(ref);
      }
    }
    assert.deepEqual((await new Images(fx.freshDir(), tar).resolve('busybox')).repoTags, [BUSYBOX]);
    const missing = path.join(fx.root, 'no-such.tar');
    await assert.rejects(new Images(fx.freshDir(), missing).resolve('busybox'), (err: unknown) => {
      assert.ok(err instanceof NotFoundError);
      assert.match(err.message, /no-such.tar` is missing too; build it with `npx tsx scripts\/build-default-image.ts/);
      return true;
    });
  });
});
