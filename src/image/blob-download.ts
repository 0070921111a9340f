/**
 * Download one blob into the store's downloads/ directory, verified. Bytes go to
 * `<hex>.partial` while they stream in (so an interrupted pull resumes with a Range request),
 * hashed as they arrive; only a blob whose size and digest match its descriptor is renamed to
 * `<hex>`. A blob that turns out bigger than its descriptor or hashes wrong is deleted, and the
 * error names it. The caller holds the blob's lock.
 */
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { createHash, type Hash } from 'node:crypto';
import { ImageError, RegistryError } from '../core/errors.js';
import type { RegistryClient } from '../registry/client.js';
import { sha256Hex } from './digest.js';
import type { Descriptor } from './oci.js';

export interface DownloadProgress {
  (current: number, total: number, resumed: boolean): void;
}

/** Path of the verified download of `digest`, fetching (or resuming) it when not there yet. */
export async function downloadBlob(client: RegistryClient, dir: string, desc: Descriptor, onProgress?: DownloadProgress): Promise<string> {
  const hex = sha256Hex(desc.digest)!;
  const done = path.join(dir, hex);
  if (await exists(done)) return done;
  const partial = `${done}.partial`;
  const what = `blob ${desc.digest}`;
  let hash = createHash('sha256');
  let offset = await hashExisting(partial, hash, desc.size);
  const { open, partial: resumed } = await client.blob(desc.digest, offset);
  if (!resumed && offset > 0) {
    // The registry ignored the Range: start over.
    hash = createHash('sha256');
    offset = 0;
  }
  const fh = await fs.open(partial, resumed ? 'a' : 'w', 0o600);
  try {
    return await finish(client, fh, partial, done, desc, hash, offset, open, what, onProgress, resumed);
  } finally {
    await fh.close().catch(() => undefined);
  }
}

async function finish(
  client: RegistryClient,
  fh: fs.FileHandle,
  partial: string,
  done: string,
  desc: Descriptor,
  hash: Hash,
  start: number,
  open: Awaited<ReturnType<RegistryClient['blob']>>['open'],
  what: string,
  onProgress: DownloadProgress | undefined,
  resumed: boolean,
): Promise<string> {
  let size = start;
  let lastReport = 0;
  onProgress?.(size, desc.size, resumed);
  try {
    for await (const chunk of client.transport.chunks(open, `${what} of ${client.what}`)) {
      size += chunk.length;
      if (size > desc.size) {
        open.abort();
        await fs.rm(partial, { force: true });
        throw new ImageError(`${what}: the registry sent more than the ${desc.size} bytes its descriptor says; nothing of it was kept`, 'IMAGE_DIGEST_MISMATCH');
      }
      hash.update(chunk);
      await fh.write(chunk);
      const now = Date.now();
      if (onProgress && now - lastReport > 100) {
        lastReport = now;
        onProgress(size, desc.size, resumed);
      }
    }
  } catch (err) {
    // The connection broke (or stalled) mid-blob: what arrived is kept, and the next pull resumes from it.
    if (err instanceof RegistryError && size < desc.size) {
      throw new ImageError(`${what}: truncated: the blob ended after ${size} of ${desc.size} bytes (${err.message}); pull again to resume`, 'IMAGE_TRUNCATED', { cause: err });
    }
    throw err;
  }
  if (size < desc.size) {
    // Kept: the next pull resumes from here.
    throw new ImageError(`${what}: truncated: the registry ended the blob after ${size} of ${desc.size} bytes; pull again to resume`, 'IMAGE_TRUNCATED');
  }
  await fh.sync();
  const actual = `sha256:${hash.digest('hex')}`;
  if (actual !== desc.digest) {
    await fs.rm(partial, { force: true });
    throw new ImageError(`${what}: digest mismatch: the content hashes to ${actual}; nothing of it was kept`, 'IMAGE_DIGEST_MISMATCH');
  }
  onProgress?.(size, desc.size, resumed);
  await fs.rename(partial, done);
  return done;
}

/** Feed what an earlier pull left in `file` to `hash`; its size, or 0 when unusable. */
async function hashExisting(file: string, hash: Hash, max: number): Promise<number> {
  let size: number;
  try {
    size = (await fs.stat(file)).size;
  } catch {
    return 0;
  }
  if (size === 0 || size >= max) {
    await fs.rm(file, { force: true });
    return 0;
  }
  for await (const chunk of createReadStream(file, { end: size - 1 })) hash.update(chunk as Buffer);
  return size;
}

async function exists(file: string): Promise<boolean> {
  try {
    return (await fs.stat(file)).isFile();
  } catch {
    return false;
  }
}
