/** Build a read-only erofs image of a directory with erofs-utils' `mkfs.erofs`. */
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BackendError } from '../core/errors.js';

const run = promisify(execFile);

export interface ErofsOptions {
  /** Filesystem UUID (`xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`); a fixed one makes images reproducible. */
  uuid?: string;
}

/**
 * Uncompressed on purpose: the guest reads it under TCG emulation, where decompression is slow.
 * Owners, modes, mtimes, device nodes and setuid bits are kept as they are in `dir`.
 */
export async function makeErofs(dir: string, out: string, options: ErofsOptions = {}): Promise<void> {
  const args = ['--quiet', ...(options.uuid ? [`-U${options.uuid}`] : []), out, dir];
  try {
    // SOURCE_DATE_EPOCH: the superblock's build time is this value instead of now, and file times
    // are clamped to it — a ceiling no real time reaches, so they stay as they are (reproducible disks:
    // a checkpoint restores on another host only onto a root disk with the same sha256)
    await run('mkfs.erofs', args, { maxBuffer: 16 * 1024 * 1024, env: { ...process.env, SOURCE_DATE_EPOCH: '2147483647' } });
  } catch (err) {
    const e = err as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === 'ENOENT') throw new BackendError('mkfs.erofs: not found (install erofs-utils)', 'BACKEND_MISSING', { cause: err });
    const why = (e.stderr ?? '').trim().split('\n').slice(-3).join('; ') || e.message;
    throw new BackendError(`mkfs.erofs \`${out}\` from \`${dir}\`: ${why}`, 'BACKEND_FAILED', { cause: err });
  }
}

/** A UUID derived from a hex digest, so the same rootfs always gives the same disk. */
export function uuidFromHex(hex: string): string {
  const h = hex.padEnd(32, '0');
  return `${h.slice(0, 8)}-${h.slice(8, 12)}-${h.slice(12, 16)}-${h.slice(16, 20)}-${h.slice(20, 32)}`;
}
