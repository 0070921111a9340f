/**
 * The embedded default image, `busybox:latest`: built at set-up into an oci-archive outside the
 * state root (build/images/busybox.oci.tar), loaded into a store the first time it is asked for,
 * so a fresh state root can run `busybox` at once without a registry.
 */
import { promises as fs } from 'node:fs';
import { NotFoundError } from '../core/errors.js';
import { normaliseReference } from './reference.js';
import type { ImageStore } from './store.js';
import type { ImageRecord } from './types.js';

export const DEFAULT_IMAGE_REF = 'docker.io/library/busybox:latest';

/** Whether `ref` names the default image (`busybox`, `busybox:latest`, `docker.io/library/busybox`…). */
export function isDefaultImageRef(ref: string): boolean {
  try {
    return normaliseReference(ref) === DEFAULT_IMAGE_REF;
  } catch {
    return false;
  }
}

/**
 * Make sure the default image is in `store`, loading it from `tarPath` if missing.
 * `ensureDefaultImage(store, tarPath)` always does; `ensureDefaultImage(store, ref, tarPath)`
 * only when `ref` names the default image (returns `undefined` otherwise), which is what a
 * `resolve` wrapper wants. Never calls `store.resolve`, so it is safe to call from an override.
 */
export async function ensureDefaultImage(store: ImageStore, tarPath: string): Promise<ImageRecord>;
export async function ensureDefaultImage(store: ImageStore, ref: string, tarPath: string): Promise<ImageRecord | undefined>;
export async function ensureDefaultImage(store: ImageStore, a: string, b?: string): Promise<ImageRecord | undefined> {
  const [ref, tarPath] = b === undefined ? [DEFAULT_IMAGE_REF, a] : [a, b];
  if (!isDefaultImageRef(ref)) return undefined;
  const present = await store.find(DEFAULT_IMAGE_REF);
  if (present !== undefined) return present;
  const hint = `the embedded default image \`${tarPath}\` is missing too; build it with \`npx tsx scripts/build-default-image.ts ${tarPath}\``;
  try {
    await fs.access(tarPath);
  } catch {
    throw new NotFoundError('image', ref, hint);
  }
  await store.load(tarPath);
  const loaded = await store.find(DEFAULT_IMAGE_REF);
  if (loaded === undefined) throw new NotFoundError('image', ref, `\`${tarPath}\` does not contain ${DEFAULT_IMAGE_REF}`);
  return loaded;
}
