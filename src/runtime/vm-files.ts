import { createHash } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { guestDir } from '../core/paths.js';
import { CTL_PORTS } from '../guest/protocol.js';

/** Files of a VM container's directory besides the sandbox files QEMU writes (src/vm/sandbox-files.ts). */
export const vmFiles = (dir: string) => ({
  rootDisk: path.join(dir, 'root.erofs'),
  rwDisk: path.join(dir, 'rw.ext4'),
  runRequest: path.join(dir, 'run.req'),
  qemuPid: path.join(dir, 'qemu.pid'),
  waiterPid: path.join(dir, 'waiter.pid'),
  shimLog: path.join(dir, 'shim.log'),
  qemuErr: path.join(dir, 'qemu.err'),
});

/** The C waiter (runtime-shim/), installed next to the guest kernel by set-up. */
export function runtimeShimPath(): string {
  const p = process.env.NESTBOX_RUNTIME_SHIM ?? path.join(guestDir(), 'nestbox-runtime-shim');
  return p;
}

export function runtimeShimInstalled(): boolean {
  return existsSync(runtimeShimPath());
}

/**
 * Lock keys of the ctl ports, as src/core/lock.ts derives them (`Lock.acquire(dir, 'ctl-N')`), so
 * the waiter and any TypeScript client of the same sandbox never share a port.
 */
export function ctlLockKeys(dir: string): string[] {
  const keys: string[] = [];
  for (let n = 0; n < CTL_PORTS; n++) keys.push(createHash('sha256').update(`${dir}\0ctl-${n}`).digest('hex').slice(0, 40));
  return keys;
}

/** QEMU's pid as the waiter recorded it (undefined before it started QEMU, or when unreadable). */
export function readQemuPid(dir: string): number | undefined {
  return readPid(vmFiles(dir).qemuPid);
}

/** The waiter's own pid as it recorded it (before create finished, the state may not have it yet). */
export function readWaiterPid(dir: string): number | undefined {
  return readPid(vmFiles(dir).waiterPid);
}

function readPid(file: string): number | undefined {
  try {
    const n = Number(readFileSync(file, 'utf8').trim());
    return Number.isInteger(n) && n > 1 ? n : undefined;
  } catch {
    return undefined;
  }
}

/** The last lines QEMU printed (why a boot failed). */
export function qemuErrTail(dir: string): string {
  try {
    const text = readFileSync(vmFiles(dir).qemuErr, 'utf8').trim();
    return text ? `: ${text.split('\n').slice(-3).join(' | ').slice(0, 800)}` : '';
  } catch {
    return '';
  }
}

/**
 * The idle tap (on no bridge) behind the NIC of a VM restored from a template: every template is
 * saved with one NIC, so its clones need one too (src/net/sandbox-net.ts). Linux names are at
 * most 15 characters.
 */
export function idleTapName(dir: string): string {
  return `nrt${createHash('sha256').update(dir).digest('hex').slice(0, 12)}`;
}
