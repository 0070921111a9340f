/**
 * Apply image layers bottom-up into a new directory, refusing hostile entries. On any failure the
 * partly unpacked directory is removed. Entry semantics are in `layer-applier.ts`.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ImageError, NestboxError, describeSysError } from '../core/errors.js';
import { openUncompressed } from './compression.js';
import { DigestMeter } from './digest.js';
import { LayerApplier, shortDigest } from './layer-applier.js';
import { readTar } from './tar-read.js';
import { isPrivateDir, removeTree } from './unpack-fs.js';

export const DEFAULT_MAX_UNPACKED_BYTES = 20 * 1024 ** 3;

export interface UnpackOptions {
  /** Bound on the uncompressed bytes of all layers together (default 20 GiB). */
  maxBytes?: number;
}

/** One layer blob on disk; `diffId`, when given, is checked against the uncompressed bytes. */
export interface LayerFile {
  digest: string;
  file: string;
  diffId?: string;
}

export class Unpacker {
  readonly maxBytes: number;

  constructor(options: UnpackOptions = {}) {
    this.maxBytes = options.maxBytes ?? DEFAULT_MAX_UNPACKED_BYTES;
  }

  /**
   * Create `dest` (which must not exist) and unpack `layers` into it, bottom first. Device nodes
   * are allowed only when the parent of `dest` is private (mode 0700, ours).
   */
  async unpack(layers: readonly LayerFile[], dest: string): Promise<{ bytes: number }> {
    await fs.mkdir(dest, { mode: 0o755 });
    try {
      const applier = new LayerApplier(dest, await isPrivateDir(path.dirname(dest)));
      let bytes = 0;
      for (const layer of layers) bytes += await this.applyLayer(applier, layer, bytes);
      await applier.finish();
      return { bytes };
    } catch (err) {
      await removeTree(dest);
      throw err;
    }
  }

  private async applyLayer(applier: LayerApplier, layer: LayerFile, bytesSoFar: number): Promise<number> {
    const subject = `layer ${shortDigest(layer.digest)}`;
    const meter = new DigestMeter(
      this.maxBytes - bytesSoFar,
      () => new ImageError(`unpack ${subject}: decompression bomb: the image unpacks to more than ${this.maxBytes} bytes`, 'IMAGE_TOO_LARGE'),
    );
    applier.beginLayer(layer.digest);
    try {
      await readTar([...(await openUncompressed(layer.file, subject)), meter], (header, body) => applier.applyEntry(header, body));
    } catch (err) {
      if (err instanceof NestboxError) throw err;
      const e = err as NodeJS.ErrnoException;
      if (e.syscall !== undefined) throw new ImageError(describeSysError(`unpack ${subject}: ${e.syscall}`, e.path ?? layer.file, err), 'IMAGE_UNPACK_FAILED', { cause: err });
      throw new ImageError(`unpack ${subject}: corrupt or truncated layer: ${e.message}`, 'IMAGE_INVALID', { cause: err });
    }
    const diffId = meter.digest();
    if (layer.diffId !== undefined && diffId !== layer.diffId) {
      throw new ImageError(`unpack ${subject}: uncompressed content hashes to ${diffId}, the image config says ${layer.diffId}`, 'IMAGE_DIGEST_MISMATCH');
    }
    return meter.bytes;
  }
}
