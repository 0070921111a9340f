/**
 * `index.json`: every image in the store by ID, each with the normalised references pointing at
 * it. A reference names at most one image. Written atomically while holding the store lock.
 */
import * as path from 'node:path';
import { readJson, writeJsonAtomic } from '../core/atomic.js';
import { withLock } from '../core/lock.js';
import { ImageError } from '../core/errors.js';
import type { ImageRecord } from './types.js';
import type { Descriptor } from './oci.js';

/** What the store keeps per image: the public record plus the layer blobs it is made of. */
export interface StoredImage extends ImageRecord {
  layers: Descriptor[];
}

export interface IndexData {
  version: 1;
  images: Record<string, StoredImage>;
}

export interface IndexChange<T> {
  changed: boolean;
  result: T;
  afterWrite?: () => Promise<void>;
  onWriteFailed?: () => Promise<void>;
}

export class IndexFile {
  readonly file: string;

  constructor(root: string, private readonly lockScope: string) {
    this.file = path.join(root, 'index.json');
  }

  /** A consistent snapshot (the file is replaced atomically, so no lock is needed to read). */
  async read(): Promise<IndexData> {
    let data: IndexData | undefined;
    try {
      data = await readJson<IndexData>(this.file);
    } catch (err) {
      throw new ImageError(`read image index \`${this.file}\`: ${(err as Error).message}`, 'IMAGE_STORE_CORRUPT', { cause: err });
    }
    if (data === undefined) return { version: 1, images: {} };
    if (data.version !== 1 || typeof data.images !== 'object' || data.images === null) {
      throw new ImageError(`read image index \`${this.file}\`: unknown format (version ${String(data.version)})`, 'IMAGE_STORE_CORRUPT');
    }
    return data;
  }

  /**
   * Run `fn` under the store lock with the current index; write it back if `fn` says `changed`,
   * then run its `afterWrite` (still under the lock), or its `onWriteFailed` if the write failed.
   */
  async update<T>(fn: (data: IndexData) => Promise<IndexChange<T>>): Promise<T> {
    return withStoreLock(this.lockScope, async () => {
      const data = await this.read();
      const change = await fn(data);
      if (change.changed) {
        try {
          await writeJsonAtomic(this.file, data, 0o600);
        } catch (err) {
          await change.onWriteFailed?.();
          throw err;
        }
      }
      await change.afterWrite?.();
      return change.result;
    });
  }
}

/** The lock that serialises index writes and blob commits/deletions of one store. */
export function withStoreLock<T>(scope: string, fn: () => Promise<T>): Promise<T> {
  return withLock(scope, 'index', fn);
}

/** Which image a normalised reference points at, if any. */
export function imageByRef(data: IndexData, ref: string): StoredImage | undefined {
  return Object.values(data.images).find((img) => img.repoTags.includes(ref));
}

/** Point `ref` at `image`, taking it off whichever image had it (which may become untagged). */
export function moveTag(data: IndexData, ref: string, image: StoredImage): void {
  for (const other of Object.values(data.images)) {
    if (other !== image) other.repoTags = other.repoTags.filter((t) => t !== ref);
  }
  if (!image.repoTags.includes(ref)) image.repoTags.push(ref);
}

/** Every blob digest some image in the index still needs. */
export function referencedBlobs(data: IndexData): Set<string> {
  const used = new Set<string>();
  for (const img of Object.values(data.images)) {
    used.add(img.id);
    used.add(img.manifestDigest);
    for (const l of img.layers) used.add(l.digest);
  }
  return used;
}
