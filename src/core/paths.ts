import * as path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository / package root (this file is src/core/paths.ts or bundled into dist/). */
export const PACKAGE_ROOT = findPackageRoot();

function findPackageRoot(): string {
  let dir = path.dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 4; i++) {
    if (path.basename(dir) === 'src' || path.basename(dir) === 'dist') return path.dirname(dir);
    dir = path.dirname(dir);
  }
  return path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
}

export const DEFAULT_ROOT = '/var/lib/nestbox';

/** State root: `--root`, else `NESTBOX_ROOT`, else /var/lib/nestbox. */
export function resolveRoot(flag?: string): string {
  return path.resolve(flag ?? process.env.NESTBOX_ROOT ?? DEFAULT_ROOT);
}

/** Guest kernel, initramfs and agent live outside the state root so a fresh root works at once. */
export function guestDir(): string {
  return path.resolve(process.env.NESTBOX_GUEST_DIR ?? path.join(PACKAGE_ROOT, 'build', 'guest'));
}

/** The embedded default image (built by set-up from Debian's busybox-static). */
export function defaultImageTar(): string {
  return path.resolve(process.env.NESTBOX_DEFAULT_IMAGE ?? path.join(PACKAGE_ROOT, 'build', 'images', 'busybox.oci.tar'));
}

export interface StorePaths {
  root: string;
  containers: string;
  names: string;
  images: string;
}

export function storePaths(root: string): StorePaths {
  return {
    root,
    containers: path.join(root, 'containers'),
    names: path.join(root, 'names'),
    images: path.join(root, 'images'),
  };
}
