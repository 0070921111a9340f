import { readlinkSync } from 'node:fs';
import * as path from 'node:path';
import { isProcessAlive, killQuietly, procStartTime, waitProcessGone } from '../core/proc.js';
import { qemuCommand, type QemuConfig } from '../vm/qemu/command.js';
import { makeRwDisk } from '../vm/qemu/rw-disk.js';
import { sandboxQemuConfig } from '../vm/qemu/sandbox-config.js';
import { quitQemu } from '../vm/qemu/quit.js';
import { idleTapName, readQemuPid, readWaiterPid, vmFiles } from './vm-files.js';
import { deleteLink, linkExists } from '../net/links.js';

/**
 * The container's writable layer: an empty sparse ext4 disk. The read-only root disk is the
 * bundle's rootfs copied into erofs (disk-cache.ts): a copy rather than a share, because the guest
 * agent mounts its root from disks; writes stay in the VM and do not reach the bundle's directory.
 */
export async function prepareRwDisk(dir: string): Promise<void> {
  await makeRwDisk(vmFiles(dir).rwDisk);
}

/** QEMU's configuration for the container in `dir` (the machine the engine boots, so templates fit). */
export function vmConfig(dir: string, rootDisk: string, memoryMiB: number, cpus: number, readOnly: boolean): QemuConfig {
  return sandboxQemuConfig({ memoryMiB, cpus, dir, rootDisk, rwDisk: !readOnly });
}

/** The command line that boots it (QEMU first). */
export function vmCommand(config: QemuConfig): string[] {
  return qemuCommand(config);
}

/**
 * End the container's VM and its waiter without the guest's help: SIGKILL the waiter (the caller
 * sees the workload killed by SIGKILL), then QMP `quit`, then SIGKILL QEMU if it lingers; then
 * remove its idle tap (restored VMs).
 */
export async function haltVm(dir: string, waiterPid: number | undefined, waiterStart: string | undefined): Promise<void> {
  await endVm(dir, waiterPid, waiterStart);
  const tap = idleTapName(dir);
  if (linkExists(tap)) await deleteLink(tap);
}

async function endVm(dir: string, knownWaiter: number | undefined, knownStart: string | undefined): Promise<void> {
  const qemu = readQemuPid(dir);
  const qemuStart = qemu && isExe(qemu, 'qemu') ? procStartTime(qemu) : undefined;
  // a create that was killed before it recorded the waiter: the waiter's own record
  const recorded = knownWaiter ? undefined : readWaiterPid(dir);
  const waiterPid = knownWaiter ?? (recorded && isExe(recorded, 'nestbox-runtime-shim') ? recorded : undefined);
  const waiterStart = knownWaiter ? knownStart : waiterPid ? procStartTime(waiterPid) : undefined;
  if (isProcessAlive(waiterPid, waiterStart)) {
    killQuietly(waiterPid, 'SIGKILL');
    await waitProcessGone(waiterPid, waiterStart, 5000);
  }
  if (!qemu || !qemuStart) return;
  await quitQemu(dir, qemu, qemuStart, 1000);
}

/** Is `pid` running a binary whose name starts with `name` (not a process that reused the pid)? */
function isExe(pid: number, name: string): boolean {
  try {
    return path.basename(readlinkSync(`/proc/${pid}/exe`)).startsWith(name);
  } catch {
    return false;
  }
}
