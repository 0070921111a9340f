/** Content digests (`sha256:<64 hex>`), chain IDs and a hashing pass-through stream. */
import { createHash, type Hash } from 'node:crypto';
import { Transform, type TransformCallback } from 'node:stream';

const SHA256_RE = /^sha256:([a-f0-9]{64})$/;

export function sha256Digest(data: string | Uint8Array): string {
  return `sha256:${createHash('sha256').update(data).digest('hex')}`;
}

/** The hex part of a `sha256:` digest, or `undefined` when it is not one. */
export function sha256Hex(digest: string): string | undefined {
  return SHA256_RE.exec(digest)?.[1];
}

export function isSha256Digest(digest: string): boolean {
  return SHA256_RE.test(digest);
}

/** Docker's short layer ID in pull and push progress: the first 12 hex digits of the digest. */
export function layerId(digest: string): string {
  return digest.slice('sha256:'.length, 'sha256:'.length + 12);
}

/** Digest of an image with no layers: the chain of nothing is the digest of nothing. */
export const EMPTY_CHAIN_ID = sha256Digest('');

/** OCI chain ID: ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln)). */
export function chainIdOf(diffIds: readonly string[]): string {
  let chain: string | undefined;
  for (const diffId of diffIds) chain = chain === undefined ? diffId : sha256Digest(`${chain} ${diffId}`);
  return chain ?? EMPTY_CHAIN_ID;
}

/** Passes bytes through while hashing and counting them; `limit` bounds the byte count. */
export class DigestMeter extends Transform {
  private readonly hash: Hash = createHash('sha256');
  bytes = 0;

  constructor(private readonly limit = Number.POSITIVE_INFINITY, private readonly onLimit?: () => Error) {
    super();
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    this.bytes += chunk.length;
    if (this.bytes > this.limit) {
      done(this.onLimit?.() ?? new Error(`more than ${this.limit} bytes`));
      return;
    }
    this.hash.update(chunk);
    done(null, chunk);
  }

  /** Call once, after the stream ended. */
  digest(): string {
    return `sha256:${this.hash.digest('hex')}`;
  }
}
