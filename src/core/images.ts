import { ImageStore } from '../image/store.js';
import { ensureDefaultImage } from '../image/default-image.js';
import type { ImageRecord } from '../image/types.js';
import { InvalidArgumentError } from './errors.js';
import { defaultImageTar } from './paths.js';

/**
 * The image store as the core uses it: resolving `busybox` in a fresh state root loads the
 * embedded default image (built by set-up) instead of failing.
 */
export class Images extends ImageStore {
  override async resolve(ref: string): Promise<ImageRecord> {
    await ensureDefaultImage(this, ref, defaultImageTar());
    return super.resolve(ref);
  }
}

/**
 * The bound on an image's unpacked size (load, pull, rootfs build) from `NESTBOX_MAX_IMAGE_SIZE`:
 * bytes, or with a k/m/g suffix (powers of 1024), e.g. `512m`. Unset: the store's default (20 GiB).
 */
export function maxImageSizeFromEnv(value = process.env.NESTBOX_MAX_IMAGE_SIZE): number | undefined {
  if (value === undefined || value.trim() === '') return undefined;
  const m = /^(\d+)([kmg]?)b?$/i.exec(value.trim());
  const bytes = m ? Number(m[1]) * 1024 ** ' kmg'.indexOf((m[2] || ' ').toLowerCase()) : NaN;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) {
    throw new InvalidArgumentError(`invalid NESTBOX_MAX_IMAGE_SIZE "${value}": use a positive number of bytes, optionally with k, m or g (e.g. 512m)`);
  }
  return bytes;
}

export function openImageStore(dir: string): Images {
  const maxUnpackedBytes = maxImageSizeFromEnv();
  return new Images(dir, maxUnpackedBytes === undefined ? {} : { maxUnpackedBytes });
}
