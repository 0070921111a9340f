/**
 * Content-addressed blobs at `blobs/sha256/<hex>`. A blob only ever appears under its name after
 * its bytes were hashed and matched: written to a temp file, verified, then renamed.
 */
import { createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { ImageError } from '../core/errors.js';
import { DigestMeter, sha256Hex } from './digest.js';

export class BlobStore {
  readonly dir: string;

  constructor(root: string, private readonly tmpDir: string) {
    this.dir = path.join(root, 'blobs', 'sha256');
  }

  path(digest: string): string {
    const hex = sha256Hex(digest);
    if (hex === undefined) throw new ImageError(`blob \`${digest}\`: unsupported digest (want sha256:<64 hex>)`);
    return path.join(this.dir, hex);
  }

  async has(digest: string): Promise<boolean> {
    try {
      return (await fs.lstat(this.path(digest))).isFile();
    } catch {
      return false;
    }
  }

  async read(digest: string): Promise<Buffer> {
    try {
      return await fs.readFile(this.path(digest));
    } catch (err) {
      throw new ImageError(`read blob ${digest}: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'missing from the store' : (err as Error).message}`, 'IMAGE_INVALID', { cause: err });
    }
  }

  /** Stream `source` into the store; throws (keeping nothing) unless digest and size match. */
  async write(source: Readable | Uint8Array, expected: { digest: string; size?: number }): Promise<string> {
    const final = this.path(expected.digest);
    const tmp = path.join(this.tmpDir, `${process.pid}-${randomBytes(6).toString('hex')}-blob`);
    const meter = new DigestMeter();
    try {
      await pipeline(source instanceof Readable ? source : Readable.from([source]), meter, createWriteStream(tmp, { flags: 'wx', mode: 0o644 }));
      await this.checkAndMove(tmp, meter.digest(), meter.bytes, expected);
    } finally {
      await fs.rm(tmp, { force: true });
    }
    return final;
  }

  /**
   * Move a file already hashed as `actual` into the store. Used to commit staged blobs: `rename`
   * within the store's file system, or drop the file if the blob is already there.
   */
  async adopt(file: string, actual: { digest: string; size: number }): Promise<void> {
    await this.checkAndMove(file, actual.digest, actual.size, actual);
  }

  private async checkAndMove(tmp: string, digest: string, size: number, expected: { digest: string; size?: number }): Promise<void> {
    if (digest !== expected.digest) throw new ImageError(`write blob ${expected.digest}: digest mismatch (content hashes to ${digest})`, 'IMAGE_DIGEST_MISMATCH');
    if (expected.size !== undefined && size !== expected.size) {
      throw new ImageError(`write blob ${expected.digest}: size mismatch (${size} bytes, descriptor says ${expected.size})`, 'IMAGE_DIGEST_MISMATCH');
    }
    const final = this.path(digest);
    if (await this.has(digest)) {
      await fs.rm(tmp, { force: true });
      return;
    }
    await fs.chmod(tmp, 0o644);
    await fs.rename(tmp, final);
  }

  async remove(digest: string): Promise<void> {
    await fs.rm(this.path(digest), { force: true });
  }
}
