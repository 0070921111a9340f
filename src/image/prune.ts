/**
 * `image prune`: delete the images no container uses — only dangling (untagged) ones unless
 * `all` — then collect what nothing explains any more: blobs no image in index.json references,
 * rootfs directories and erofs disks of chains no image has (and no running container mounts),
 * and download leftovers of pulls that are not running. Files a concurrent pull holds (its
 * `blob:<digest>` lock) are left alone.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Lock } from '../core/lock.js';
import type { BlobStore } from './blobs.js';
import { diskUsage } from './disk-usage.js';
import { referencedBlobs, type IndexFile } from './index-file.js';
import type { RootfsCache } from './rootfs-cache.js';
import type { StoreLayout } from './store-layout.js';

export interface PruneContext {
  layout: StoreLayout;
  blobs: BlobStore;
  index: IndexFile;
  caches: RootfsCache;
}

export interface PruneOptions {
  /** Every image no container uses, not only dangling ones. */
  all?: boolean;
  /** Whether a container uses the image (by ID), as for `remove`. */
  isUsed?: (imageId: string) => Promise<boolean> | boolean;
}

export interface PruneResult {
  /** Normalised references removed with their images. */
  untagged: string[];
  /** Image IDs deleted. */
  deleted: string[];
  /** Blob digests deleted (configs, manifests, layers), including ones earlier removals left. */
  blobs: string[];
  /** Chain IDs whose rootfs directory and/or disk were deleted. */
  caches: string[];
  /** Download leftovers deleted, as `<hex>` or `<hex>.partial`. */
  downloads: string[];
  /** Disk space freed, in bytes. */
  reclaimedBytes: number;
}

const HEX_NAME = /^[a-f0-9]{64}$/;
const DOWNLOAD_NAME = /^([a-f0-9]{64})(?:\.partial)?$/;

export async function pruneImages(ctx: PruneContext, options: PruneOptions = {}): Promise<PruneResult> {
  await ctx.layout.prepare(); // also sweeps temp entries of dead processes
  const result: PruneResult = { untagged: [], deleted: [], blobs: [], caches: [], downloads: [], reclaimedBytes: 0 };
  await ctx.index.update(async (data) => {
    for (const image of Object.values(data.images)) {
      if (!options.all && image.repoTags.length > 0) continue;
      if (await options.isUsed?.(image.id)) continue;
      delete data.images[image.id];
      result.untagged.push(...image.repoTags);
      result.deleted.push(image.id);
    }
    const keep = referencedBlobs(data);
    const unreferenced = (await hexNames(ctx.layout.blobs)).map((hex) => `sha256:${hex}`).filter((d) => !keep.has(d));
    return {
      changed: result.deleted.length > 0,
      result: undefined,
      // still under the index lock: no load or pull can commit (and reference) a blob meanwhile
      afterWrite: async () => {
        for (const digest of unreferenced) {
          const bytes = await removeUnlessHeld(ctx.layout.lockScope, digest, ctx.blobs.path(digest));
          if (bytes === undefined) continue;
          result.blobs.push(digest);
          result.reclaimedBytes += bytes;
        }
      },
    };
  });
  await pruneCaches(ctx, result);
  await pruneDownloads(ctx, result);
  return result;
}

async function pruneCaches(ctx: PruneContext, result: PruneResult): Promise<void> {
  const needed = async (chainId: string) =>
    Object.values((await ctx.index.read()).images).some((i) => i.chainId === chainId) ||
    (await mountedLowerDirs()).has(path.resolve(ctx.layout.rootfsDir(chainId.slice('sha256:'.length))));
  for (const chainId of await ctx.caches.chains()) {
    if (await needed(chainId)) continue; // checked again under the cache's locks
    const { removed, bytes } = await ctx.caches.remove(chainId, () => needed(chainId));
    if (removed) result.caches.push(chainId);
    result.reclaimedBytes += bytes;
  }
}

/** `downloads/sha256/<hex>[.partial]`: what pulls keep between attempts. */
async function pruneDownloads(ctx: PruneContext, result: PruneResult): Promise<void> {
  const dir = ctx.layout.downloads;
  for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
    const hex = DOWNLOAD_NAME.exec(name)?.[1];
    if (hex === undefined) continue;
    const bytes = await removeUnlessHeld(ctx.layout.lockScope, `sha256:${hex}`, path.join(dir, name));
    if (bytes === undefined) continue;
    result.downloads.push(name);
    result.reclaimedBytes += bytes;
  }
}

/** Remove `file` unless a pull holds the blob's lock; the bytes freed, or undefined when left. */
async function removeUnlessHeld(lockScope: string, digest: string, file: string): Promise<number | undefined> {
  const lock = await Lock.tryAcquire(lockScope, `blob:${digest}`);
  if (lock === undefined) return undefined;
  try {
    const bytes = await diskUsage(file);
    await fs.rm(file, { force: true });
    return bytes;
  } finally {
    await lock.release();
  }
}

async function hexNames(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).filter((n) => HEX_NAME.test(n)).sort();
}

/**
 * Directories used as overlay lower layers by mounts in this mount namespace: a running
 * process-isolated container whose image was force-removed still reads its rootfs there.
 */
async function mountedLowerDirs(): Promise<Set<string>> {
  const text = await fs.readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  const dirs = new Set<string>();
  for (const m of text.matchAll(/lowerdir=([^,\s]+)/g)) {
    for (const dir of m[1]!.split(':')) dirs.add(dir.replace(/\\([0-7]{3})/g, (_, o: string) => String.fromCharCode(parseInt(o, 8))));
  }
  return dirs;
}
