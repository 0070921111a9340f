/**
 * A load's private scratch directory inside the store: files copied or extracted there are
 * hashed on the way in, so committing one as a blob is a rename. Removed when the load ends.
 */
import { createWriteStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { DigestMeter, sha256Digest } from './digest.js';

/** A file in the staging directory with its content digest and size. */
export interface StagedFile {
  file: string;
  digest: string;
  size: number;
}

export class Staging {
  private count = 0;

  constructor(readonly dir: string) {}

  private nextFile(): string {
    return path.join(this.dir, `f${++this.count}`);
  }

  /** Copy a stream (or iterable of chunks) into staging while hashing it. */
  async stageStream(source: Readable | AsyncIterable<Buffer>): Promise<StagedFile> {
    const file = this.nextFile();
    const meter = new DigestMeter();
    await pipeline(source instanceof Readable ? source : Readable.from(source), meter, createWriteStream(file, { flags: 'wx', mode: 0o600 }));
    return { file, digest: meter.digest(), size: meter.bytes };
  }

  async stageBytes(bytes: Uint8Array): Promise<StagedFile> {
    const file = this.nextFile();
    await fs.writeFile(file, bytes, { flag: 'wx', mode: 0o600 });
    return { file, digest: sha256Digest(bytes), size: bytes.length };
  }

  async remove(): Promise<void> {
    await fs.rm(this.dir, { recursive: true, force: true });
  }
}
