import { promises as fs } from 'node:fs';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BackendError } from '../../core/errors.js';

const run = promisify(execFile);
/** Size of the sparse writable layer; only blocks the container writes take space. */
export const RW_DISK_BYTES = 8 * 1024 ** 3;

/** A fresh, empty ext4 writable layer at `disk`. */
export async function makeRwDisk(disk: string): Promise<void> {
  await fs.writeFile(disk, '', { mode: 0o600 });
  await fs.truncate(disk, RW_DISK_BYTES);
  try {
    await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1', disk]);
  } catch (err) {
    throw new BackendError(`mkfs.ext4 \`${disk}\`: ${(err as Error).message.trim()} (is e2fsprogs installed?)`, 'MKFS_FAILED');
  }
}
