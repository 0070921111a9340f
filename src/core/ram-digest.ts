import { createHash, type Hash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import type { Digest } from './checkpoint-manifest.js';

/**
 * The digest of a guest RAM file (a checkpoint's `ram`, docs/checkpoints.md): sha256 over its
 * non-zero 4 KiB pages in ascending order, each as its page number (big-endian u64) and the
 * sha256 of its bytes. It depends only on the file's bytes (a hole and a page of zeros are the
 * same), and a file written from a migration stream is hashed as its pages arrive, in any order
 * and with pages sent again (a live save sends what the guest dirtied once more), without reading
 * the zeros that are most of a guest's memory (a plain sha256 of 256 MiB costs ~0.3 s here).
 */
export const PAGE = 4096;
const ZERO = Buffer.alloc(PAGE);

export const isZeroPage = (page: Buffer): boolean => page.equals(ZERO);

/** Takes pages in any order, each number again if it was rewritten (the last content counts). */
export class RamDigester {
  private readonly pages = new Map<number, Buffer>();

  /** Page `n` (4 KiB) holds `page` (undefined: zeros). */
  page(n: number, page: Buffer | undefined): void {
    if (!page || isZeroPage(page)) this.pages.delete(n);
    else this.pages.set(n, createHash('sha256').update(page).digest());
  }

  digest(bytes: number): Digest {
    const hash: Hash = createHash('sha256');
    const index = Buffer.alloc(8);
    for (const n of [...this.pages.keys()].sort((x, y) => x - y)) {
      index.writeBigUInt64BE(BigInt(n));
      hash.update(index);
      hash.update(this.pages.get(n)!);
    }
    return { bytes, sha256: hash.digest('hex') };
  }
}

/** The RAM digest of `file`, read from disk (import, or a digest-cache miss). */
export async function digestRamFile(file: string): Promise<Digest> {
  const d = new RamDigester();
  let bytes = 0;
  let carry = Buffer.alloc(0);
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    let buf = carry.length ? Buffer.concat([carry, chunk as Buffer]) : (chunk as Buffer);
    const whole = buf.length - (buf.length % PAGE);
    for (let o = 0; o < whole; o += PAGE) d.page((bytes + o) / PAGE, buf.subarray(o, o + PAGE));
    bytes += whole;
    carry = Buffer.from(buf.subarray(whole));
    buf = carry;
  }
  if (carry.length) {
    // a tail shorter than a page (never in a valid RAM file: its size is checked separately)
    d.page(bytes / PAGE, Buffer.concat([carry, Buffer.alloc(PAGE - carry.length)]));
    bytes += carry.length;
  }
  return d.digest(bytes);
}
