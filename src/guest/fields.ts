import { GuestProtocolError } from '../core/errors.js';
import { MAX_STRING, Tag } from './protocol.js';

type TagValue = (typeof Tag)[keyof typeof Tag];

/** Builds a structured payload: a sequence of `tag u8, len u32 LE, value`. */
export class FieldWriter {
  private parts: Buffer[] = [];

  str(tag: TagValue, value: string | undefined): this {
    if (value !== undefined) this.raw(tag, Buffer.from(value, 'utf8'));
    return this;
  }
  strs(tag: TagValue, values: readonly string[]): this {
    for (const v of values) this.str(tag, v);
    return this;
  }
  u32(tag: TagValue, value: number | undefined): this {
    if (value === undefined) return this;
    const b = Buffer.alloc(4);
    b.writeUInt32LE(value >>> 0);
    return this.raw(tag, b);
  }
  u64(tag: TagValue, value: bigint): this {
    const b = Buffer.alloc(8);
    b.writeBigUInt64LE(value);
    return this.raw(tag, b);
  }
  bytes(tag: TagValue, value: Buffer): this {
    return this.raw(tag, value);
  }
  private raw(tag: number, value: Buffer): this {
    const h = Buffer.alloc(5);
    h.writeUInt8(tag, 0);
    h.writeUInt32LE(value.length, 1);
    this.parts.push(h, value);
    return this;
  }
  build(): Buffer {
    return Buffer.concat(this.parts);
  }
}

/** Parsed structured payload; every accessor validates what the guest sent. */
export class Fields {
  private constructor(private readonly map: Map<number, Buffer[]>) {}

  static parse(payload: Buffer): Fields {
    const map = new Map<number, Buffer[]>();
    let i = 0;
    while (i < payload.length) {
      if (payload.length - i < 5) throw new GuestProtocolError(`field header truncated at byte ${i} of ${payload.length}`);
      const tag = payload.readUInt8(i);
      const len = payload.readUInt32LE(i + 1);
      if (len > payload.length - i - 5) throw new GuestProtocolError(`field ${tag} of ${len} bytes overruns the ${payload.length}-byte payload`);
      const value = payload.subarray(i + 5, i + 5 + len);
      const list = map.get(tag);
      if (list) list.push(value);
      else map.set(tag, [value]);
      i += 5 + len;
    }
    return new Fields(map);
  }

  str(tag: TagValue): string | undefined {
    const v = this.map.get(tag)?.[0];
    if (v === undefined) return undefined;
    if (v.length > MAX_STRING) throw new GuestProtocolError(`field ${tag}: string of ${v.length} bytes over the ${MAX_STRING}-byte limit`);
    return v.toString('utf8');
  }
  u32(tag: TagValue): number | undefined {
    const v = this.map.get(tag)?.[0];
    if (v === undefined) return undefined;
    if (v.length !== 4) throw new GuestProtocolError(`field ${tag}: expected 4 bytes, got ${v.length}`);
    return v.readUInt32LE(0);
  }
  i32(tag: TagValue): number | undefined {
    const v = this.map.get(tag)?.[0];
    if (v === undefined) return undefined;
    if (v.length !== 4) throw new GuestProtocolError(`field ${tag}: expected 4 bytes, got ${v.length}`);
    return v.readInt32LE(0);
  }
}
