import { VERSION } from '../core/version.js';

declare const __NESTBOX_COMMIT__: string | undefined;

/** The runtime-spec version nestbox-runtime implements. */
export const OCI_VERSION = '1.0.2';
export const COMMIT: string = typeof __NESTBOX_COMMIT__ === 'string' ? __NESTBOX_COMMIT__ : 'unknown';

/** `--version`: three lines, as runc prints them (callers parse the first). */
export function versionText(): string {
  return `nestbox-runtime version ${VERSION}\ncommit: ${COMMIT}\nspec: ${OCI_VERSION}\n`;
}
