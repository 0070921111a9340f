import { ImageStore } from '../image/store.js';
import { ensureDefaultImage } from '../image/default-image.js';
import type { ImageRecord } from '../image/types.js';
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

export function openImageStore(dir: string): Images {
  return new Images(dir);
}
