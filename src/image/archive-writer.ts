/**
 * Write a tarball entry by entry into a stream, each file's bytes streamed from its source (never
 * held in memory). Entries are reproducible: fixed mtime, owner 0:0, no user/group names.
 */
import type { Readable, Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import * as tar from 'tar-stream';

const MTIME = new Date(0);

export class ArchiveWriter {
  private readonly pack = tar.pack();
  private readonly done: Promise<void>;

  /** `end: false` leaves `dest` open when the archive is complete (for process.stdout). */
  constructor(dest: Writable, options: { end?: boolean; signal?: AbortSignal } = {}) {
    this.done = pipeline(this.pack, dest, { end: options.end ?? true, ...(options.signal ? { signal: options.signal } : {}) });
    this.done.catch(() => undefined); // observed by every write and by finish()
  }

  directory(name: string): Promise<void> {
    return this.settle(new Promise<void>((resolve, reject) => {
      quiet(this.pack.entry({ ...this.common(name), type: 'directory', mode: 0o755 }, (err) => (err ? reject(err) : resolve())));
    }));
  }

  /** A file of exactly `size` bytes: given, or piped from `source` (a chain of streams, in order). */
  file(name: string, size: number, source: Uint8Array | string | Readable[]): Promise<void> {
    const header = { ...this.common(name), type: 'file' as const, mode: 0o644, size };
    if (!Array.isArray(source)) {
      const data = typeof source === 'string' ? Buffer.from(source) : Buffer.from(source);
      return this.settle(new Promise<void>((resolve, reject) => {
        quiet(this.pack.entry(header, data, (err) => (err ? reject(err) : resolve())));
      }));
    }
    let settled!: (err?: Error | null) => void;
    const entryDone = new Promise<void>((ok, fail) => (settled = (err) => (err ? fail(err) : ok())));
    entryDone.catch(() => undefined); // awaited below once the bytes are in
    const sink = quiet(this.pack.entry(header, (err) => settled(err)));
    return this.settle((async () => {
      await pipeline([...source, sink]);
      await entryDone;
    })());
  }

  /** End the archive and wait until `dest` has it all. */
  async finish(): Promise<void> {
    this.pack.finalize();
    await this.done;
  }

  /** Stop: the destination gets no more bytes (the caller removes what it wrote). */
  abort(err: Error): void {
    this.pack.destroy(err);
  }

  /** A write fails as soon as the destination fails (a closed pipe would otherwise hang it). */
  private settle(write: Promise<void>): Promise<void> {
    return Promise.race([write, this.done.then(() => write)]);
  }

  private common(name: string) {
    return { name, mtime: MTIME, uid: 0, gid: 0, uname: '', gname: '' };
  }
}

/** An entry destroyed by an abort reports through its callback; its 'error' event must not crash the process. */
function quiet<T extends { on(event: 'error', listener: () => void): unknown }>(sink: T): T {
  sink.on('error', () => undefined);
  return sink;
}
