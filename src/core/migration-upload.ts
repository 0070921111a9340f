import { createHash, type Hash } from 'node:crypto';
import { closeSync, openSync, promises as fs, readSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { CHECKPOINT_FILES, CheckpointError, type CheckpointManifest, type Digest } from './checkpoint-manifest.js';
import { ConflictError, InvalidArgumentError } from './errors.js';
import { PAGE, RamDigester, isZeroPage } from './ram-digest.js';

/** A checkpoint file other than the manifest: `state`, `ram`, `disk`, `log`, `events`. */
export type FileKey = Exclude<keyof typeof CHECKPOINT_FILES, 'manifest'>;
/** Bytes before each run of pages in a RAM body: its first page and its page count (u32 BE each). */
export const RUN_HEADER = 8;

/**
 * The files of one incoming migration as they arrive (docs/checkpoints.md, "Migration"), written
 * into the migration's directory and hashed on the way: when the last byte is in, the digests are
 * known and the destination reads nothing again. Everything comes from the source over the network
 * and is hostile: only the files its manifest lists, never past the sizes it gives, each file in
 * order (a chunk at its current end), RAM pages in ascending order and inside the guest's memory.
 * A request that breaks a rule breaks the upload: every later one, and the start, is refused.
 */
export class MigrationUpload {
  private readonly hashes = new Map<FileKey, Hash>();
  private readonly received = new Map<FileKey, number>();
  private readonly ramDigest = new RamDigester();
  private nextPage = 0;
  /** The RAM file, written with plain write(2)s: a page-cache copy, cheaper than a round trip to the thread pool per chunk. */
  private ram?: number;
  private queue: Promise<unknown> = Promise.resolve();
  private broken?: string;
  private done = false;

  constructor(readonly id: string, readonly dir: string, readonly m: CheckpointManifest) {}

  /** The manifest's files, with what each is named in the directory. */
  files(): Array<[FileKey, string]> {
    return (Object.keys(this.m.files) as FileKey[]).map((k) => [k, path.join(this.dir, CHECKPOINT_FILES[k])]);
  }

  /** Append `chunk` to file `key`; `offset` must be what was received of it so far. Returns the new size. */
  appendFile(key: string, offset: number, chunk: Buffer): Promise<number> {
    return this.serial(async () => {
      // own keys only: `toString` or `__proto__` is no file of a manifest
      if (key === 'ram' || key === 'manifest' || !Object.hasOwn(CHECKPOINT_FILES, key) || !Object.hasOwn(this.m.files, key)) {
        throw new InvalidArgumentError(`migration ${this.id}: no file ${JSON.stringify(key)} in its manifest (it lists ${Object.keys(this.m.files).filter((k) => k !== 'ram').join(', ')}; RAM goes to …/ram)`);
      }
      const k = key as FileKey;
      const size = this.received.get(k) ?? 0;
      if (offset !== size) throw new ConflictError(`migration ${this.id}: ${k} chunk at offset ${offset}, but ${size} bytes of it were received`, 'MIGRATION_OFFSET');
      const want = this.m.files[k]!.bytes;
      if (size + chunk.length > want) throw new InvalidArgumentError(`migration ${this.id}: ${k} would be ${size + chunk.length} bytes, its manifest says ${want}`);
      await fs.appendFile(path.join(this.dir, CHECKPOINT_FILES[k]), chunk, { mode: 0o600 });
      let h = this.hashes.get(k);
      if (!h) this.hashes.set(k, (h = createHash('sha256')));
      h.update(chunk);
      this.received.set(k, size + chunk.length);
      return size + chunk.length;
    });
  }

  /**
   * Write runs of guest RAM pages as they arrive: `body` is a sequence of runs, each a header
   * (first page, page count: u32 big-endian) and that many 4 KiB pages. Runs ascend across the
   * whole upload; pages never sent stay holes (zeros). At most a page is held back between chunks.
   * Returns the page after the last one written.
   */
  receiveRam(body: AsyncIterable<Buffer>): Promise<number> {
    return this.serial(async () => {
      const want = this.m.files.ram;
      if (!want) throw new InvalidArgumentError(`migration ${this.id}: its manifest has no RAM file`);
      const npages = want.bytes / PAGE;
      const bad = (what: string) => new InvalidArgumentError(`migration ${this.id}: RAM: ${what}`);
      const fd = (this.ram ??= openSync(path.join(this.dir, CHECKPOINT_FILES.ram), 'r+'));
      let left = 0; // pages of the open run still to come
      let held = Buffer.alloc(0);
      for await (const chunk of body) {
        // dropped (aborted, swept) while this waited for data: its descriptor is closed, and may be reused
        if (this.ram !== fd) throw new ConflictError(`migration ${this.id} was dropped while its RAM arrived`, 'MIGRATION_BROKEN');
        const buf = held.length ? Buffer.concat([held, chunk]) : chunk;
        let o = 0;
        for (;;) {
          if (left === 0) {
            if (buf.length - o < RUN_HEADER) break;
            const first = buf.readUInt32BE(o);
            const count = buf.readUInt32BE(o + 4);
            o += RUN_HEADER;
            if (count === 0) throw bad(`an empty run at page ${first}`);
            if (first < this.nextPage) throw bad(`page ${first} after page ${this.nextPage - 1} (runs must ascend)`);
            if (first + count > npages) throw bad(`pages ${first}–${first + count - 1} beyond the guest's ${npages} pages`);
            this.nextPage = first;
            left = count;
          }
          const n = Math.min(left, Math.floor((buf.length - o) / PAGE));
          if (n === 0) break;
          writeSync(fd, buf, o, n * PAGE, this.nextPage * PAGE);
          for (let p = 0; p < n; p++) this.ramDigest.page(this.nextPage + p, buf.subarray(o + p * PAGE, o + (p + 1) * PAGE));
          o += n * PAGE;
          this.nextPage += n;
          left -= n;
        }
        held = Buffer.from(buf.subarray(o));
      }
      if (left || held.length) throw bad(`the body ends inside a run (${left} pages of it missing)`);
      return this.nextPage;
    });
  }

  /**
   * The upload is over: every file whole and matching the manifest's digest (CheckpointError
   * naming the first that does not); the RAM file at the guest's size. Returns the digests.
   */
  complete(): Promise<Partial<Record<FileKey, Digest>>> {
    return this.serial(async () => {
      this.done = true;
      this.closeRam();
      for (const [k] of this.files()) {
        const bytes = this.received.get(k) ?? 0;
        const want = this.m.files[k]!.bytes;
        if (k !== 'ram' && bytes !== want) throw new CheckpointError(`migration ${this.id}: ${CHECKPOINT_FILES[k]} is incomplete (${bytes} of ${want} bytes arrived)`);
      }
      const out: Partial<Record<FileKey, Digest>> = {};
      for (const [k, file] of this.files()) {
        const want = this.m.files[k]!;
        let got: Digest;
        if (k === 'ram') {
          await fs.truncate(file, want.bytes);
          got = this.ramDigest.digest(want.bytes);
        } else {
          got = { bytes: want.bytes, sha256: (this.hashes.get(k) ?? createHash('sha256')).digest('hex') };
        }
        if (got.sha256 !== want.sha256) throw new CheckpointError(`migration ${this.id}: ${CHECKPOINT_FILES[k]} does not match its sha256 in the manifest (corrupt)`);
        out[k] = got;
      }
      return out;
    });
  }

  /** Drop it (its directory is the caller's to remove). */
  close(): void {
    this.done = true;
    this.broken ??= 'it was abandoned';
    this.closeRam();
  }

  private closeRam(): void {
    const fd = this.ram;
    this.ram = undefined;
    if (fd !== undefined) closeSync(fd);
  }

  /** One request at a time, in arrival order; the first to fail breaks the upload. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.queue.then(async () => {
      if (this.broken) throw new ConflictError(`migration ${this.id} is broken (${this.broken}): start the migration again`, 'MIGRATION_BROKEN');
      if (this.done) throw new ConflictError(`migration ${this.id} is already complete`, 'MIGRATION_BROKEN');
      try {
        return await fn();
      } catch (err) {
        this.broken = (err as Error).message;
        throw err;
      }
    });
    this.queue = run.catch(() => undefined);
    return run;
  }
}

/**
 * The non-zero pages of RAM file `file` as runs (`receiveRam`'s format: a header of first page and
 * count, then the pages), in pieces of about 1 MiB, read as they are asked for: a streamed body is
 * sent while the rest of the file is still being read. Zero pages and holes are not sent (the
 * destination's file has holes there).
 */
export async function* ramRuns(file: string, sent: { bytes: number }): AsyncGenerator<Buffer> {
  const PIECE = 1 << 20;
  // plain read(2)s: the file is in the page cache (just written) and mostly holes
  const fd = openSync(file, 'r');
  const block = Buffer.alloc(PIECE);
  let out = Buffer.allocUnsafe(PIECE + RUN_HEADER + PAGE);
  let used = 0;
  /** The open run: where its header is in `out`, its first page and its count. */
  let run: { at: number; first: number; count: number } | undefined;
  const endRun = () => {
    if (run) {
      out.writeUInt32BE(run.first, run.at);
      out.writeUInt32BE(run.count, run.at + 4);
    }
    run = undefined;
  };
  try {
    for (let pos = 0; ; ) {
      const bytesRead = readSync(fd, block, 0, PIECE, pos);
      if (bytesRead === 0) break;
      for (let o = 0; o + PAGE <= bytesRead; o += PAGE) {
        const page = block.subarray(o, o + PAGE);
        if (isZeroPage(page)) {
          endRun();
          continue;
        }
        const n = (pos + o) / PAGE;
        if (!run || run.first + run.count !== n) {
          endRun();
          run = { at: used, first: n, count: 0 };
          used += RUN_HEADER;
        }
        page.copy(out, used);
        used += PAGE;
        run.count++;
        if (used >= PIECE) {
          endRun();
          sent.bytes += used;
          yield out.subarray(0, used);
          out = Buffer.allocUnsafe(PIECE + RUN_HEADER + PAGE);
          used = 0;
        }
      }
      pos += bytesRead;
    }
    endRun();
    if (used) {
      sent.bytes += used;
      yield out.subarray(0, used);
    }
  } finally {
    closeSync(fd);
  }
}
