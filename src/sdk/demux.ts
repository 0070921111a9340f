/**
 * Docker's multiplexed stream (stdcopy), read side: `[stream, 0, 0, 0, size u32 BE]` then the
 * payload. Frames may arrive split anywhere; `push` keeps the partial rest for the next chunk.
 */
export class Demuxer {
  private pending: Buffer = Buffer.alloc(0);

  constructor(private readonly onFrame: (stream: 'stdout' | 'stderr', data: Buffer) => void) {}

  push(chunk: Buffer): void {
    let buf = this.pending.length ? Buffer.concat([this.pending, chunk]) : chunk;
    while (buf.length >= 8) {
      const size = buf.readUInt32BE(4);
      if (buf.length < 8 + size) break;
      const type = buf[0];
      const data = buf.subarray(8, 8 + size);
      // 0 (stdin, echoed) is not expected here; 3 (systemerr) is reported as stderr
      if (size > 0) this.onFrame(type === 1 ? 'stdout' : 'stderr', data);
      buf = buf.subarray(8 + size);
    }
    this.pending = Buffer.from(buf);
  }

  /** Bytes of an unfinished frame left at the end of the stream (0 when it ended cleanly). */
  get leftover(): number {
    return this.pending.length;
  }
}
