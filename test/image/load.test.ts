import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { gzipSync } from 'node:zlib';
import { ImageError, NotFoundError } from '../../src/core/errors.js';
import { sha256Digest } from '../../src/image/digest.js';
import { MEDIA, type Index } from '../../src/image/oci.js';
import { makeOciImage, ociArchiveBytes, writeOciLayoutDir } from '../../src/image/oci-write.js';
import { ImageStore } from '../../src/image/store.js';
import { packTar } from '../../src/image/tar-write.js';
import { defaultImageTar, rawTar, storeContents, storeFixture, writeOciArchive } from './helpers.js';

const run = promisify(execFile);
const BUSYBOX = 'docker.io/library/busybox:latest';

const fx = storeFixture();
const { freshStore } = fx;
let broken = 0;

async function assertLoadFails(store: ImageStore, file: string, message: RegExp): Promise<void> {
  await assert.rejects(store.load(file), (err: unknown) => {
    assert.ok(err instanceof ImageError, `expected ImageError, got ${String(err)}`);
    assert.match(err.message, /^load `/);
    assert.match(err.message, message);
    return true;
  });
}

describe('load', () => {
  it('loads the embedded default image (oci-archive) with a working rootfs', async () => {
    const tar = await defaultImageTar();
    const { dir, store } = freshStore();
    const [image, ...rest] = await store.load(tar);
    assert.equal(rest.length, 0);
    assert.deepEqual(image!.repoTags, [BUSYBOX]);
    assert.match(image!.id, /^sha256:[0-9a-f]{64}$/);
    assert.deepEqual(image!.config, { Cmd: ['sh'], Env: ['PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'], WorkingDir: '/' });
    assert.equal(image!.architecture, 'amd64');
    assert.equal(image!.os, 'linux');
    assert.equal(image!.diffIds.length, 1);
    assert.equal(image!.chainId, image!.diffIds[0]);
    assert.ok(image!.size > 1_000_000);
    const rootfs = await store.rootfsDir(image!);
    assert.deepEqual(await fs.readFile(path.join(rootfs, 'bin/busybox')), await fs.readFile('/bin/busybox'));
    assert.equal(await fs.readlink(path.join(rootfs, 'bin/sh')), 'busybox');
    assert.match(await fs.readFile(path.join(rootfs, 'etc/passwd'), 'utf8'), /^user:x:1000:1000:/m);
    assert.match(await fs.readFile(path.join(rootfs, 'etc/passwd'), 'utf8'), /^nobody:x:65534:65534:/m);
    assert.equal((await fs.stat(path.join(rootfs, 'tmp'))).mode & 0o7777, 0o1777);
    assert.equal((await fs.stat(path.join(rootfs, 'home/user'))).uid, 1000);
    const { stdout } = await run(path.join(rootfs, 'bin/busybox'), ['echo', 'hello']);
    assert.equal(stdout, 'hello\n');
    // Loading again changes nothing.
    assert.equal((await store.load(tar))[0]!.id, image!.id);
    assert.equal((await store.list()).length, 1);
    assert.deepEqual((await storeContents(dir)).tmp, []);
    for (const sub of ['', 'rootfs', 'disks', 'tmp', 'blobs/sha256']) assert.equal((await fs.stat(path.join(dir, sub))).mode & 0o777, 0o700, sub);
  });

  it('loads a docker-archive written by skopeo (legacy <id>/layer.tar symlink layout)', async () => {
    const archive = path.join(fx.root, 'skopeo-docker.tar');
    await run('skopeo', ['copy', '--quiet', `oci-archive:${await defaultImageTar()}`, `docker-archive:${archive}:busybox:latest`]);
    const { store } = freshStore();
    const [image] = await store.load(archive);
    const [reference] = await freshStore().store.load(await defaultImageTar());
    assert.equal(image!.id, reference!.id);
    assert.deepEqual(image!.repoTags, [BUSYBOX]);
    assert.deepEqual(image!.diffIds, reference!.diffIds);
    assert.ok(await fs.stat(path.join(await store.rootfsDir(image!), 'bin/busybox')));
  });

  it('loads a gzipped docker-archive and the docker 25+ (OCI-in-docker) layout', async () => {
    const image = makeOciImage({ layers: [await rawTar([{ name: 'hello', data: 'hi' }])], gzip: false });
    const hex = (d: string) => d.slice(7);
    const manifest = [{ Config: `blobs/sha256/${hex(image.configDigest)}`, RepoTags: ['example.com/app:2'], Layers: image.diffIds.map((d) => `blobs/sha256/${hex(d)}`) }];
    const tar = await ociArchiveBytes(image);
    const withManifest = Buffer.concat([tar.subarray(0, tar.length - 1024), await packTar([{ type: 'file', name: 'manifest.json', data: JSON.stringify(manifest) }], new Date(0))]);
    const file = path.join(fx.root, 'docker25.tar.gz');
    await fs.writeFile(file, gzipSync(withManifest));
    const { store } = freshStore();
    const [loaded] = await store.load(file);
    assert.equal(loaded!.id, image.configDigest);
    assert.deepEqual(loaded!.repoTags, ['example.com/app:2']);
    assert.equal(await fs.readFile(path.join(await store.rootfsDir(loaded!), 'hello'), 'utf8'), 'hi');
  });

  it('loads OCI layout directories, naming images from their annotations', async () => {
    const { store } = freshStore();
    const skopeoDir = path.join(fx.root, 'skopeo-oci');
    await run('skopeo', ['copy', '--quiet', `oci-archive:${await defaultImageTar()}`, `oci:${skopeoDir}:myorg/busybox:1`]);
    const [named] = await store.load(skopeoDir);
    assert.deepEqual(named!.repoTags, ['docker.io/myorg/busybox:1']);

    const bare = makeOciImage({ layers: [await rawTar([{ name: 'f', data: 'x' }])] });
    bare.index.manifests[0]!.annotations = { 'org.opencontainers.image.ref.name': 'latest' };
    const bareDir = path.join(fx.root, 'bare-oci');
    await writeOciLayoutDir(bare, bareDir);
    const [untagged] = await store.load(bareDir);
    assert.deepEqual(untagged!.repoTags, []);
    assert.equal((await store.resolve(bare.configDigest.slice(7, 19))).id, bare.configDigest);
  });

  it('picks the host platform from a multi-platform index', async () => {
    const arm = makeOciImage({ layers: [await rawTar([{ name: 'arch', data: 'arm64' }])], architecture: 'arm64' });
    const amd = makeOciImage({ layers: [await rawTar([{ name: 'arch', data: 'amd64' }])], architecture: 'amd64' });
    const list: Index = { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [arm.index.manifests[0]!, amd.index.manifests[0]!] };
    const listBytes = Buffer.from(JSON.stringify(list));
    const blobs = new Map([...arm.blobs, ...amd.blobs, [sha256Digest(listBytes), listBytes]]);
    const top: Index = {
      schemaVersion: 2,
      manifests: [{ mediaType: MEDIA.ociIndex, digest: sha256Digest(listBytes), size: listBytes.length, annotations: { 'io.containerd.image.name': 'multi:1' } }],
    };
    const file = path.join(fx.root, 'multi.tar');
    await fs.writeFile(file, await ociArchiveBytes({ ...amd, blobs, index: top }));
    const [image] = await freshStore().store.load(file);
    assert.equal(image!.id, amd.configDigest);
    assert.deepEqual(image!.repoTags, ['docker.io/library/multi:1']);
  });
});

describe('load refuses broken archives and keeps nothing', () => {
  const fails: [string, () => Promise<Buffer>, RegExp][] = [
    ['a truncated archive', async () => (await fs.readFile(await defaultImageTar())).subarray(0, 600_000), /corrupt or truncated archive: Unexpected end of data/],
    ['a file that is not a tar', async () => Buffer.from('this is not a tarball at all, just some text that fills a block'.repeat(20)), /corrupt or truncated archive: Invalid tar header/],
    ['an empty file', async () => Buffer.alloc(0), /not a docker-archive or OCI image layout/],
    ['a tar without manifest.json or oci-layout', () => rawTar([{ name: 'hello.txt', data: 'hi' }]), /not a docker-archive or OCI image layout \(no manifest.json, no oci-layout\)/],
    ['bad JSON in manifest.json', () => rawTar([{ name: 'manifest.json', data: '[{"Config": ' }]), /: parse manifest.json: not valid JSON/],
    ['bad JSON in index.json', () => rawTar([{ name: 'oci-layout', data: '{"imageLayoutVersion":"1.0.0"}' }, { name: 'index.json', data: '{nope' }]), /: parse index.json: not valid JSON/],
    ['a docker manifest naming a missing layer', async () => {
      const image = makeOciImage({ layers: [await rawTar([{ name: 'f', data: 'x' }])], gzip: false });
      const config = image.blobs.get(image.configDigest)!;
      return rawTar([
        { name: `${image.configDigest.slice(7)}.json`, data: config },
        { name: 'manifest.json', data: JSON.stringify([{ Config: `${image.configDigest.slice(7)}.json`, RepoTags: ['x:1'], Layers: ['abc/layer.tar'] }]) },
      ]);
    }, /layer 0 `abc\/layer.tar` is missing from the archive/],
    ['an OCI blob whose content does not match its digest', async () => {
      const image = makeOciImage({ layers: [await rawTar([{ name: 'f', data: 'x' }])] });
      image.blobs.set(image.configDigest, Buffer.from(JSON.stringify({ architecture: 'amd64', os: 'linux', rootfs: { type: 'layers', diff_ids: [] } })));
      return ociArchiveBytes(image);
    }, /config of manifest sha256:[0-9a-f]{64} digest mismatch: expected sha256:/],
    ['an OCI descriptor with the wrong size', async () => {
      const image = makeOciImage({ layers: [await rawTar([{ name: 'f', data: 'x' }])] });
      image.index.manifests[0]!.size += 1;
      return ociArchiveBytes(image);
    }, /size mismatch/],
    ['a layer that does not match rootfs.diff_ids', async () => {
      const layer = await rawTar([{ name: 'f', data: 'x' }]);
      return ociArchiveBytes(makeOciImage({ layers: [{ blob: layer, diffId: sha256Digest('something else') }] }));
    }, /unpack layer sha256:[0-9a-f]{12}…: uncompressed content hashes to sha256:[0-9a-f]{64}, the image config says sha256:/],
    ['a corrupt zstd layer', async () => {
      const blob = Buffer.concat([Buffer.from([0x28, 0xb5, 0x2f, 0xfd]), Buffer.alloc(100, 7)]);
      return ociArchiveBytes(makeOciImage({ layers: [{ blob, diffId: sha256Digest('x'), mediaType: 'application/vnd.oci.image.layer.v1.tar+zstd' }] }));
    }, /corrupt or truncated layer: zstd: /],
    ['a corrupt gzip layer', async () => {
      const gz = gzipSync(await rawTar([{ name: 'f', data: 'x'.repeat(5000) }]));
      gz.fill(0x55, 20, 40);
      return ociArchiveBytes(makeOciImage({ layers: [{ blob: gz, diffId: sha256Digest('x'), mediaType: MEDIA.ociLayerGzip }] }));
    }, /corrupt or truncated layer/],
  ];

  for (const [title, make, message] of fails) {
    it(title, async () => {
      const { dir, store } = freshStore();
      const file = path.join(fx.root, `broken-${broken++}.tar`);
      await fs.writeFile(file, await make());
      await assertLoadFails(store, file, message);
      assert.deepEqual(await store.list(), []);
      assert.deepEqual(await storeContents(dir), { blobs: [], rootfs: [], disks: [], tmp: [] });
    });
  }

  it('keeps blobs another image uses and removes only its own strays', async () => {
    const { dir, store } = freshStore();
    const [busybox] = await store.load(await defaultImageTar());
    const before = await storeContents(dir);
    const busyLayer = await rawTar([{ name: 'layer', data: 'shared base' }]);
    const good = await writeOciArchive(fx.root, 'good.tar', { layers: [busyLayer], name: 'good:1' });
    await store.load(good.file);
    const afterGood = await storeContents(dir);
    // Same base layer plus a layer whose diff_id is wrong: nothing of it may stay, the shared layer must.
    const bad = await writeOciArchive(fx.root, 'bad.tar', { layers: [busyLayer, { blob: await rawTar([{ name: 'x', data: 'y' }]), diffId: sha256Digest('wrong') }], name: 'bad:1' });
    await assertLoadFails(store, bad.file, /uncompressed content hashes to/);
    assert.deepEqual(await storeContents(dir), afterGood);
    assert.deepEqual((await store.list()).map((i) => i.repoTags[0]).sort(), ['docker.io/library/busybox:latest', 'docker.io/library/good:1']);
    assert.ok(before.blobs.every((b) => afterGood.blobs.includes(b)));
    assert.equal((await store.resolve('busybox')).id, busybox!.id);
  });

  it('says which file is missing', async () => {
    await assert.rejects(freshStore().store.load(path.join(fx.root, 'nope.tar')), NotFoundError);
  });
});
