/** Detect a layer's compression by its magic bytes and give back a stream of the tar inside. */
import { createReadStream, promises as fs } from 'node:fs';
import type { Readable } from 'node:stream';
import { ImageError } from '../core/errors.js';
import { createZstdDecompress } from './zstd.js';

export type Compression = 'none' | 'gzip' | 'zstd' | 'bzip2' | 'xz';

export function detectCompression(head: Uint8Array): Compression {
  const starts = (...magic: number[]) => magic.every((b, i) => head[i] === b);
  if (starts(0x1f, 0x8b)) return 'gzip';
  if (starts(0x28, 0xb5, 0x2f, 0xfd)) return 'zstd';
  if (starts(0x42, 0x5a, 0x68)) return 'bzip2';
  if (starts(0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00)) return 'xz';
  return 'none';
}

export async function detectFileCompression(file: string): Promise<Compression> {
  const fh = await fs.open(file, 'r');
  try {
    const head = Buffer.alloc(6);
    const { bytesRead } = await fh.read(head, 0, head.length, 0);
    return detectCompression(head.subarray(0, bytesRead));
  } finally {
    await fh.close();
  }
}

/**
 * The uncompressed bytes of `file`, as a list of streams to pipe in order (the read stream, then a
 * decompressor when needed). `subject` names the blob in errors, e.g. `layer sha256:ab12…`.
 */
export async function openUncompressed(file: string, subject: string): Promise<Readable[]> {
  const compression = await detectFileCompression(file);
  const source = createReadStream(file);
  switch (compression) {
    case 'none':
      return [source];
    case 'gzip':
      // loaded here: zlib is not needed by the commands that never read a layer (run, exec, ps)
      return [source, (await import('node:zlib')).createGunzip()];
    case 'zstd':
      return [source, createZstdDecompress()];
    default:
      source.destroy();
      throw new ImageError(`read ${subject}: ${compression} compression is not supported (use gzip, zstd or uncompressed layers)`, 'IMAGE_UNSUPPORTED');
  }
}

/** Media type for a layer blob with this compression (used when nestbox writes a manifest). */
export function layerMediaType(compression: Compression): string {
  const base = 'application/vnd.oci.image.layer.v1.tar';
  return compression === 'none' ? base : compression === 'gzip' ? `${base}+gzip` : `${base}+${compression}`;
}
