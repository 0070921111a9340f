import { GuestProtocolError } from '../core/errors.js';
import { HEADER_SIZE, MAX_PAYLOAD, PROTOCOL_VERSION, isKnownType, type Frame, type MsgTypeValue } from './protocol.js';

export function encodeFrame(type: MsgTypeValue, session: number, payload: Uint8Array = Buffer.alloc(0)): Buffer {
  if (payload.length > MAX_PAYLOAD) throw new RangeError(`frame payload of ${payload.length} bytes exceeds ${MAX_PAYLOAD}`);
  const header = Buffer.alloc(HEADER_SIZE);
  header.writeUInt8(PROTOCOL_VERSION, 0);
  header.writeUInt8(type, 1);
  header.writeUInt16LE(session, 2);
  header.writeUInt32LE(payload.length, 4);
  return Buffer.concat([header, payload]);
}

/**
 * Incremental decoder for frames from a hostile peer. `push` bytes as they arrive; complete frames
 * come out in order. A bad header throws GuestProtocolError naming the byte offset (after any
 * good frames of the same chunk have been returned), and the decoder refuses further input.
 */
export class FrameDecoder {
  private buf: Buffer = Buffer.alloc(0);
  private offset = 0;
  private broken: GuestProtocolError | undefined;

  /** Bytes consumed by complete frames so far (the offset of the next frame in the stream). */
  get consumed(): number {
    return this.offset;
  }

  push(chunk: Buffer): Frame[] {
    if (this.broken) throw this.broken;
    this.buf = this.buf.length === 0 ? chunk : Buffer.concat([this.buf, chunk]);
    const frames: Frame[] = [];
    while (this.buf.length >= HEADER_SIZE) {
      const version = this.buf.readUInt8(0);
      const type = this.buf.readUInt8(1);
      const session = this.buf.readUInt16LE(2);
      const length = this.buf.readUInt32LE(4);
      const problem =
        version !== PROTOCOL_VERSION ? `version ${version} (expected ${PROTOCOL_VERSION})`
        : !isKnownType(type) ? `unknown type 0x${type.toString(16)}`
        : length > MAX_PAYLOAD ? `length ${length} over the ${MAX_PAYLOAD}-byte limit`
        : undefined;
      if (problem) {
        this.broken = new GuestProtocolError(`bad frame from guest at byte ${this.offset}: ${problem}`);
        if (frames.length > 0) return frames; // the good frames before it still count; `error` says why it stopped
        throw this.broken;
      }
      if (this.buf.length < HEADER_SIZE + length) break;
      frames.push({ type: type as MsgTypeValue, session, payload: this.buf.subarray(HEADER_SIZE, HEADER_SIZE + length) });
      this.buf = this.buf.subarray(HEADER_SIZE + length);
      this.offset += HEADER_SIZE + length;
    }
    return frames;
  }

  /** Why the stream stopped (after the frames returned before it), if it did. */
  get error(): GuestProtocolError | undefined {
    return this.broken;
  }

  /** Bytes of an incomplete frame still waiting for the rest. */
  get pending(): number {
    return this.buf.length;
  }
}
