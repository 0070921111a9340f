import { promises as fs, watch, type FSWatcher } from 'node:fs';
import { FrameDecoder } from './frame.js';
import { decodeGuestFrame, type GuestEvent } from './messages.js';

const CHUNK = 256 * 1024;

/**
 * Reads guest frames appended to a file by QEMU (the log and events ports). The file is written by
 * the guest, so every frame is checked; a malformed one ends reading with an error event.
 */
export class FrameFileReader {
  private decoder = new FrameDecoder();
  private offset: number;
  private failure: Error | undefined;

  /** `start`: byte offset to begin at (a frame boundary, e.g. the file's size at some earlier time). */
  constructor(
    readonly file: string,
    private readonly timestamped: boolean,
    start = 0,
  ) {
    this.offset = start;
  }

  /** The protocol error that stopped reading, if any (frames before it were returned). */
  get error(): Error | undefined {
    return this.failure;
  }

  /** Everything appended since the last call. Throws GuestProtocolError on a bad frame. */
  async readNew(): Promise<GuestEvent[]> {
    if (this.failure) throw this.failure;
    let fh: fs.FileHandle;
    try {
      fh = await fs.open(this.file, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw err;
    }
    const events: GuestEvent[] = [];
    try {
      const buf = Buffer.alloc(CHUNK);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, CHUNK, this.offset);
        if (bytesRead === 0) break;
        this.offset += bytesRead;
        let frames;
        try {
          frames = this.decoder.push(Buffer.from(buf.subarray(0, bytesRead)));
        } catch (err) {
          // keep what was valid before the bad frame; the error comes with the next read
          this.failure = err as Error;
          return events;
        }
        for (const frame of frames) {
          try {
            events.push(decodeGuestFrame(frame, this.timestamped));
          } catch (err) {
            this.failure = err as Error;
            return events;
          }
        }
        if (this.decoder.error) {
          this.failure = this.decoder.error;
          return events;
        }
      }
    } finally {
      await fh.close();
    }
    return events;
  }

  /**
   * Yields events as they are appended until `done()` says the writer has finished (checked only
   * when no new data is there, so the tail is never lost) or `signal` aborts.
   */
  async *follow(done: () => boolean | Promise<boolean>, signal?: AbortSignal, pollMs = 20, writerExit?: Promise<unknown>): AsyncGenerator<GuestEvent> {
    let wake: (() => void) | undefined;
    let watcher: FSWatcher | undefined;
    let writerGone = false; // it exited and done() has not looked since
    const poke = () => wake?.();
    void writerExit?.then(() => {
      writerGone = true;
      poke();
    });
    try {
      watcher = watch(this.file, poke);
      watcher.on('error', () => undefined);
    } catch {
      // the file may not exist yet: polling covers it
    }
    signal?.addEventListener('abort', poke);
    try {
      for (;;) {
        const events = await this.readNew();
        for (const e of events) yield e;
        if (events.length > 0) continue;
        if (signal?.aborted || (await done())) {
          for (const e of await this.readNew()) yield e;
          return;
        }
        if (writerGone) {
          writerGone = false; // it exited after done() looked: look once more now, not after a poll
          continue;
        }
        await new Promise<void>((resolve) => {
          const timer = setTimeout(resolve, pollMs);
          wake = () => {
            clearTimeout(timer);
            resolve();
          };
        });
        wake = undefined;
      }
    } finally {
      watcher?.close();
      signal?.removeEventListener('abort', poke);
    }
  }
}
