/**
 * `load`: docker-archive tarballs, oci-archive tarballs and OCI layout directories. Everything is
 * staged and verified (blob digests; each layer's uncompressed digest against the config's
 * `rootfs.diff_ids`; every layer entry, by unpacking) before anything enters the store; then
 * blobs and index change together under the store lock. A failed load leaves nothing behind.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ImageError, NotFoundError } from '../core/errors.js';
import { openDirSource, openTarSource, type ArchiveSource } from './archive-source.js';
import type { BlobStore } from './blobs.js';
import type { ImageCandidate } from './candidate.js';
import { chainIdOf } from './digest.js';
import { dockerCandidates } from './docker-archive.js';
import { moveTag, referencedBlobs, type IndexFile, type StoredImage } from './index-file.js';
import { runConfigOf } from './oci.js';
import { ociCandidates } from './oci-layout.js';
import type { RootfsCache } from './rootfs-cache.js';
import type { StoreLayout } from './store-layout.js';
import { Staging } from './staging.js';
import type { ImageRecord } from './types.js';
import { Unpacker } from './unpack.js';

export interface LoadContext {
  layout: StoreLayout;
  blobs: BlobStore;
  index: IndexFile;
  caches: RootfsCache;
  /** Bound on an image's (and an archive's) uncompressed bytes. */
  maxBytes: number;
}

interface Unpacked {
  dir: string;
  bytes: number;
}

/** A loaded image, with the references this archive gave it (the image may have others). */
export interface LoadedImage extends ImageRecord {
  loadedTags: string[];
}

export async function loadImages(ctx: LoadContext, file: string): Promise<LoadedImage[]> {
  const st = await fs.stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new NotFoundError('file', file);
    throw err;
  });
  await ctx.layout.prepare();
  const staging = new Staging(await ctx.layout.makeTempDir('load'));
  const label = `\`${file}\``;
  try {
    const src = st.isDirectory() ? await openDirSource(file, staging) : await openTarSource(file, staging, ctx.maxBytes);
    const candidates = await candidatesOf(src, staging);
    const images: StoredImage[] = [];
    const unpacked = new Map<string, Unpacked>();
    const present = (await ctx.index.read()).images;
    for (const c of candidates) {
      // Same config digest (already verified) means same diff_ids and rootfs: only the tags are new.
      const known = present[c.config.digest];
      images.push(known ? recordOf(c, known.size) : await verify(ctx, src, staging, c, unpacked));
    }
    const records = await commit(ctx, candidates, images);
    for (const [chainId, { dir }] of unpacked) {
      await ctx.caches.install(chainId, dir, async () => Object.values((await ctx.index.read()).images).some((i) => i.chainId === chainId));
    }
    return records;
  } catch (err) {
    if (err instanceof ImageError && !err.message.startsWith('load `')) throw new ImageError(`load ${label}: ${err.message}`, err.code, { cause: err });
    throw err;
  } finally {
    await staging.remove();
  }
}

async function candidatesOf(src: ArchiveSource, staging: Staging): Promise<ImageCandidate[]> {
  const dockerManifest = await src.get('manifest.json');
  if (dockerManifest !== undefined) return dockerCandidates(src, staging, dockerManifest);
  if ((await src.get('oci-layout')) !== undefined) return ociCandidates(src);
  throw new ImageError(`load ${src.label}: not a docker-archive or OCI image layout (no manifest.json, no oci-layout)`);
}

/**
 * Unpack the image into staging with the same unpacker `rootfsDir` uses: this checks every layer
 * against `rootfs.diff_ids`, refuses hostile entries and bounds the size before anything is
 * committed. The result becomes the chain's rootfs cache. Images sharing a chain unpack once.
 */
async function verify(ctx: LoadContext, src: ArchiveSource, staging: Staging, c: ImageCandidate, unpacked: Map<string, Unpacked>): Promise<StoredImage> {
  const diffIds = c.configJson.rootfs.diff_ids;
  if (diffIds.length !== c.layers.length) {
    throw new ImageError(`load ${src.label}: image ${c.config.digest} has ${c.layers.length} layers but its config lists ${diffIds.length} diff_ids`);
  }
  const chainId = chainIdOf(diffIds);
  let done = unpacked.get(chainId);
  if (done === undefined) {
    const dir = path.join(staging.dir, `rootfs-${unpacked.size}`);
    const layers = c.layers.map((l, i) => ({ digest: l.staged.digest, file: l.staged.file, diffId: diffIds[i]! }));
    done = { dir, bytes: (await new Unpacker({ maxBytes: ctx.maxBytes }).unpack(layers, dir)).bytes };
    unpacked.set(chainId, done);
  }
  return recordOf(c, done.bytes);
}

function recordOf(c: ImageCandidate, size: number): StoredImage {
  const cfg = c.configJson;
  return {
    id: c.config.digest,
    repoTags: [],
    manifestDigest: c.manifest.digest,
    diffIds: [...cfg.rootfs.diff_ids],
    chainId: chainIdOf(cfg.rootfs.diff_ids),
    config: runConfigOf(cfg),
    architecture: cfg.architecture,
    os: cfg.os,
    ...(typeof cfg.created === 'string' ? { created: cfg.created } : {}),
    size,
    layers: c.layers.map((l) => l.descriptor),
  };
}

/** Move staged blobs into the store and record the images, under the store lock; all or nothing. */
async function commit(ctx: LoadContext, candidates: ImageCandidate[], images: StoredImage[]): Promise<LoadedImage[]> {
  return ctx.index.update(async (data) => {
    const before = referencedBlobs(data);
    const adopted: string[] = [];
    try {
      const ids: string[] = [];
      const loadedTags = new Map<string, string[]>();
      for (const [i, c] of candidates.entries()) {
        const image = images[i]!;
        if (data.images[image.id] === undefined) {
          for (const blob of [c.manifest, c.config, ...c.layers.map((l) => l.staged)]) {
            if (!(await ctx.blobs.has(blob.digest))) adopted.push(blob.digest);
            await ctx.blobs.adopt(blob.file, blob);
          }
          data.images[image.id] = image;
        }
        for (const tag of c.tags) moveTag(data, tag, data.images[image.id]!);
        ids.push(image.id);
        loadedTags.set(image.id, [...(loadedTags.get(image.id) ?? []), ...c.tags]);
      }
      return {
        changed: true,
        result: [...new Set(ids)].map((id) => ({ ...structuredClone(data.images[id]!), loadedTags: loadedTags.get(id) ?? [] })),
        onWriteFailed: () => removeUnreferenced(ctx.blobs, adopted, before),
      };
    } catch (err) {
      await removeUnreferenced(ctx.blobs, adopted, before);
      throw err;
    }
  });
}

async function removeUnreferenced(blobs: BlobStore, digests: string[], keep: Set<string>): Promise<void> {
  for (const d of digests) if (!keep.has(d)) await blobs.remove(d);
}
