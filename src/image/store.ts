/**
 * The image store: content-addressed blobs, `index.json` of images and their references, and
 * rootfs directories / erofs disks built once per chain ID. Layout under `root`:
 *   blobs/sha256/<hex>  index.json  rootfs/<chainhex>/  disks/<chainhex>.erofs  tmp/
 */
import type { Writable } from 'node:stream';
import { ConflictError, NotFoundError } from '../core/errors.js';
import { BlobStore } from './blobs.js';
import { IndexFile, moveTag, referencedBlobs, type StoredImage } from './index-file.js';
import { loadImages, type LoadedImage } from './load.js';
import { lookupImage } from './lookup.js';
import { pruneImages, type PruneOptions, type PruneResult } from './prune.js';
import { pullImage, type PullOptions, type PullResult } from './pull.js';
import { pushImage, type PushOptions, type PushResult } from './push.js';
import { familiar, formatReference, parseTaggedReference } from './reference.js';
import { RootfsCache } from './rootfs-cache.js';
import { saveToFile, saveToStream, type SaveOptions } from './save.js';
import { StoreLayout } from './store-layout.js';
import type { ImageRecord } from './types.js';
import { DEFAULT_MAX_UNPACKED_BYTES, Unpacker } from './unpack.js';

export interface ImageStoreOptions {
  /** Bound on an image's uncompressed size, at load and at unpack (default 20 GiB). */
  maxUnpackedBytes?: number;
  /** Called when this process starts building a rootfs directory or disk (for progress output). */
  onBuild?: (kind: 'rootfs' | 'disk', chainId: string) => void;
}

export interface RemoveOptions {
  force?: boolean;
  /** Whether a container uses the image (by ID). */
  isUsed?: (imageId: string) => Promise<boolean> | boolean;
}

export interface RemoveResult {
  /** Normalised references removed, e.g. `docker.io/library/busybox:latest`. */
  untagged: string[];
  /** Image IDs deleted. */
  deleted: string[];
}

const LOAD_HINT = 'load it with `nestbox load -i FILE`';

export class ImageStore {
  readonly root: string;
  private readonly layout: StoreLayout;
  private readonly blobs: BlobStore;
  private readonly index: IndexFile;
  private readonly caches: RootfsCache;
  private readonly maxBytes: number;

  constructor(root: string, options: ImageStoreOptions = {}) {
    this.root = root;
    this.layout = new StoreLayout(root);
    this.blobs = new BlobStore(root, this.layout.tmp);
    this.index = new IndexFile(root, this.layout.lockScope);
    this.maxBytes = options.maxUnpackedBytes ?? DEFAULT_MAX_UNPACKED_BYTES;
    this.caches = new RootfsCache(this.layout, this.blobs, new Unpacker({ maxBytes: this.maxBytes }), options.onBuild);
  }

  /** The image a name, reference, full/short ID or digest names; NotFoundError when none. */
  async resolve(ref: string): Promise<ImageRecord> {
    const image = await this.find(ref);
    if (image === undefined) throw new NotFoundError('image', ref, LOAD_HINT);
    return image;
  }

  /** Like `resolve`, but `undefined` when there is no such image (a malformed `ref` still throws). */
  async find(ref: string): Promise<ImageRecord | undefined> {
    const found = lookupImage(await this.index.read(), ref);
    return found === undefined ? undefined : structuredClone(found.image);
  }

  async list(): Promise<ImageRecord[]> {
    const data = await this.index.read();
    return Object.values(data.images)
      .map((img) => structuredClone(img))
      .sort((a, b) => (b.created ?? '').localeCompare(a.created ?? '') || a.id.localeCompare(b.id));
  }

  /** Load a docker-archive / oci-archive tarball or an OCI layout directory. */
  async load(file: string): Promise<LoadedImage[]> {
    return loadImages({ layout: this.layout, blobs: this.blobs, index: this.index, caches: this.caches, maxBytes: this.maxBytes }, file);
  }

  /** Write the images `refs` name as one docker-archive or oci-archive tarball: to a file (atomically) or a stream. */
  async save(refs: string[], dest: string | Writable, options: SaveOptions = {}): Promise<void> {
    const ctx = { blobs: this.blobs, index: this.index };
    await (typeof dest === 'string' ? saveToFile(ctx, refs, dest, options) : saveToStream(ctx, refs, dest, options));
  }

  /** Pull an image from its registry (see pull.ts); implicit pulls of `run`/`create` come here too. */
  async pull(ref: string, options: PullOptions = {}): Promise<PullResult> {
    return pullImage({ layout: this.layout, blobs: this.blobs, index: this.index, caches: this.caches, maxBytes: this.maxBytes }, ref, options);
  }

  /** Push the image `ref` names to the registry in `ref` (see push.ts). */
  async push(ref: string, options: PushOptions = {}): Promise<PushResult> {
    return pushImage({ blobs: this.blobs, index: this.index }, ref, options);
  }

  /** Point `newRef` (a name with an optional tag) at the image `src` names. */
  async tag(src: string, newRef: string): Promise<ImageRecord> {
    const ref = formatReference(parseTaggedReference(newRef));
    return this.index.update(async (data) => {
      const found = lookupImage(data, src);
      if (found === undefined) throw new NotFoundError('image', src, LOAD_HINT);
      moveTag(data, ref, found.image);
      return { changed: true, result: structuredClone(found.image) };
    });
  }

  /**
   * Docker's `rmi`: removing one of several tags only untags; removing the last tag, or the image
   * by ID, deletes it with the blobs, rootfs and disk no other image needs. An image a container
   * uses is refused unless `force`; forced, it is deleted but its rootfs and disk stay for the
   * container. Removing by ID an image with several tags needs `force`.
   */
  async remove(ref: string, options: RemoveOptions = {}): Promise<RemoveResult> {
    let orphanChain: string | undefined;
    const result = await this.index.update(async (data) => {
      const found = lookupImage(data, ref);
      if (found === undefined) throw new NotFoundError('image', ref);
      const image = found.image;
      if (found.by === 'tag' && image.repoTags.length > 1) {
        image.repoTags = image.repoTags.filter((t) => t !== found.ref);
        return { changed: true, result: { untagged: [found.ref], deleted: [] } };
      }
      if (found.by !== 'tag' && image.repoTags.length > 1 && !options.force) {
        throw new ConflictError(`remove image \`${ref}\`: it is referenced by ${image.repoTags.map((t) => familiar(t)).join(', ')}; remove those tags, or force`, 'IMAGE_IN_USE');
      }
      const used = (await options.isUsed?.(image.id)) ?? false;
      if (used && !options.force) {
        throw new ConflictError(`remove image \`${ref}\`: image ${image.id.slice(7, 19)} is used by a container; remove the container first, or force`, 'IMAGE_IN_USE');
      }
      delete data.images[image.id];
      const stillNeeded = referencedBlobs(data);
      const unneeded = [image.manifestDigest, image.id, ...image.layers.map((l) => l.digest)].filter((d) => !stillNeeded.has(d));
      if (!used && !Object.values(data.images).some((i) => i.chainId === image.chainId)) orphanChain = image.chainId;
      return {
        changed: true,
        result: { untagged: [...image.repoTags], deleted: [image.id] },
        afterWrite: async () => {
          for (const d of new Set(unneeded)) await this.blobs.remove(d);
        },
      };
    });
    if (orphanChain !== undefined) await this.removeCachesIfUnused(orphanChain);
    return result;
  }

  /** `image prune`: unused images (dangling ones unless `all`), then blobs, caches and downloads nothing needs. */
  async prune(options: PruneOptions = {}): Promise<PruneResult> {
    return pruneImages({ layout: this.layout, blobs: this.blobs, index: this.index, caches: this.caches }, options);
  }

  /** Unpacked rootfs of the image, for runc; built on first use. */
  async rootfsDir(image: ImageRecord): Promise<string> {
    return this.caches.dir(await this.stored(image));
  }

  /** Read-only erofs image of the rootfs, for the VM; built on first use. */
  async rootfsDisk(image: ImageRecord): Promise<string> {
    return this.caches.disk(await this.stored(image));
  }

  private async stored(image: ImageRecord): Promise<StoredImage> {
    const stored = (await this.index.read()).images[image.id];
    if (stored === undefined) throw new NotFoundError('image', image.id, 'it was removed');
    return stored;
  }

  private async removeCachesIfUnused(chainId: string): Promise<void> {
    await this.caches.remove(chainId, async () => Object.values((await this.index.read()).images).some((i) => i.chainId === chainId));
  }
}
