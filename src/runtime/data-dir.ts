import { createHash } from 'node:crypto';
import * as path from 'node:path';
import { DEFAULT_RUNTIME_ROOT } from './context.js';

/**
 * Where the big, shareable files live: the rootfs disks (by content) and the VM templates. Not in
 * the runtime root, which is under /run (memory); one data directory per runtime root, so roots
 * (containerd namespaces, tests) share nothing. NESTBOX_RUNTIME_DATA overrides.
 */
export function dataDir(root: string): string {
  const base = process.env.NESTBOX_RUNTIME_DATA ?? '/var/lib/nestbox-runtime';
  const name = root === DEFAULT_RUNTIME_ROOT ? 'default' : createHash('sha256').update(root).digest('hex').slice(0, 16);
  return path.join(base, name);
}
