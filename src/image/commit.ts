/**
 * The second half of every way an image enters the store (load, pull): verify a staged
 * candidate by unpacking it, then commit its blobs and references to the store under the store
 * lock, all or nothing, and install the unpacked rootfs as the chain's cache.
 */
import * as path from 'node:path';
import { ImageError } from '../core/errors.js';
import type { BlobStore } from './blobs.js';
import type { ImageCandidate } from './candidate.js';
import { chainIdOf } from './digest.js';
import { moveTag, referencedBlobs, type IndexFile, type StoredImage } from './index-file.js';
import { runConfigOf } from './oci.js';
import type { RootfsCache } from './rootfs-cache.js';
import type { StoreLayout } from './store-layout.js';
import type { Staging } from './staging.js';
import type { ImageRecord } from './types.js';
import { Unpacker } from './unpack.js';

export interface CommitContext {
  layout: StoreLayout;
  blobs: BlobStore;
  index: IndexFile;
  caches: RootfsCache;
  /** Bound on an image's (and an archive's) uncompressed bytes. */
  maxBytes: number;
}

/** Rootfs directories unpacked in staging, by chain ID. */
export type UnpackedChains = Map<string, { dir: string; bytes: number }>;

/** A committed image, with the references this operation gave it (it may have others). */
export interface CommittedImage extends ImageRecord {
  loadedTags: string[];
}

/**
 * Unpack the image into staging with the same unpacker `rootfsDir` uses: this checks every layer
 * against `rootfs.diff_ids`, refuses hostile entries and bounds the size before anything is
 * committed. The result becomes the chain's rootfs cache. Images sharing a chain unpack once.
 */
export async function verifyCandidate(ctx: CommitContext, label: string, staging: Staging, c: ImageCandidate, unpacked: UnpackedChains): Promise<StoredImage> {
  const diffIds = c.configJson.rootfs.diff_ids;
  if (diffIds.length !== c.layers.length) {
    throw new ImageError(`${label}: image ${c.config.digest} has ${c.layers.length} layers but its config lists ${diffIds.length} diff_ids`);
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

export function recordOf(c: ImageCandidate, size: number): StoredImage {
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

/**
 * Move staged blobs into the store and record the images, under the store lock; all or nothing.
 * A blob already in the store is kept as is (its staged copy is left for the caller to remove).
 */
export async function commitCandidates(ctx: CommitContext, candidates: ImageCandidate[], images: StoredImage[]): Promise<CommittedImage[]> {
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
            if (await ctx.blobs.has(blob.digest)) continue;
            adopted.push(blob.digest);
            await ctx.blobs.adopt(blob.file, blob);
          }
          data.images[image.id] = image;
        }
        const stored = data.images[image.id]!;
        for (const tag of c.tags) moveTag(data, tag, stored);
        for (const d of c.repoDigests ?? []) if (!(stored.repoDigests ??= []).includes(d)) stored.repoDigests.push(d);
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

/** Hand unpacked chains to the rootfs cache (dropped when no image needs the chain any more). */
export async function installUnpacked(ctx: CommitContext, unpacked: UnpackedChains): Promise<void> {
  for (const [chainId, { dir }] of unpacked) {
    await ctx.caches.install(chainId, dir, async () => Object.values((await ctx.index.read()).images).some((i) => i.chainId === chainId));
  }
}

async function removeUnreferenced(blobs: BlobStore, digests: string[], keep: Set<string>): Promise<void> {
  for (const d of digests) if (!keep.has(d)) await blobs.remove(d);
}
