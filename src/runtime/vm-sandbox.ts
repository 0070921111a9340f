import { promises as fs, existsSync, readlinkSync } from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BackendError } from '../core/errors.js';
import { guestDir } from '../core/paths.js';
import { isProcessAlive, killQuietly, procStartTime, waitProcessGone } from '../core/proc.js';
import { makeErofs } from '../image/erofs.js';
import { detectAccel, hostTscKhz } from '../vm/qemu/accel.js';
import { QEMU_BINARY, qemuArgs } from '../vm/qemu/command.js';
import { QmpClient } from '../vm/qemu/qmp.js';
import { readQemuPid, vmFiles } from './vm-files.js';

const run = promisify(execFile);
/** Sparse: only the blocks the container writes take space. */
const RW_DISK_BYTES = 8 * 1024 ** 3;

/**
 * The container's disks: the bundle's rootfs directory copied into a read-only erofs image (the
 * disk the guest agent mounts as the image), plus an empty ext4 writable layer. A copy rather than
 * a share: the guest agent mounts its root from disks, and erofs of a small rootfs takes tens of
 * milliseconds. Writes stay in the VM's layer; they do not reach the bundle's directory.
 */
export async function prepareDisks(dir: string, rootfs: string, readOnly: boolean): Promise<void> {
  const f = vmFiles(dir);
  await makeErofs(rootfs, f.rootDisk);
  if (readOnly) return;
  await fs.writeFile(f.rwDisk, '', { mode: 0o600 });
  await fs.truncate(f.rwDisk, RW_DISK_BYTES);
  try {
    await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1', f.rwDisk]);
  } catch (err) {
    throw new BackendError(`mkfs.ext4 \`${f.rwDisk}\`: ${(err as Error).message.trim()} (is e2fsprogs installed?)`, 'MKFS_FAILED');
  }
}

/** QEMU's command line for the container in `dir` (the same machine the engine boots). */
export function vmCommand(dir: string, memoryMiB: number, cpus: number, readOnly: boolean): string[] {
  const guest = guestDir();
  const kernel = path.join(guest, 'vmlinux');
  const initrd = path.join(guest, 'initramfs.cpio');
  for (const f of [kernel, initrd]) {
    if (!existsSync(f)) throw new BackendError(`guest file \`${f}\` is missing: run the set-up command from the README (scripts/setup.sh)`, 'GUEST_MISSING');
  }
  const accel = detectAccel();
  const tsc = accel.accel === 'tcg' ? hostTscKhz() : undefined;
  return [
    QEMU_BINARY,
    ...qemuArgs({
      accel: accel.accel,
      memoryMiB,
      cpus,
      kernel,
      initrd,
      dir,
      rootDisk: vmFiles(dir).rootDisk,
      rwDisk: !readOnly,
      ...(process.env.NESTBOX_KERNEL_ARGS ? { append: process.env.NESTBOX_KERNEL_ARGS.split(/\s+/).filter(Boolean) } : {}),
      ...(tsc ? { hostTscKhz: tsc } : {}),
    }),
  ];
}

/**
 * End the container's VM and its waiter without the guest's help: SIGKILL the waiter (the caller
 * sees the workload killed by SIGKILL), then QMP `quit`, then SIGKILL QEMU if it lingers.
 */
export async function haltVm(dir: string, waiterPid: number | undefined, waiterStart: string | undefined): Promise<void> {
  const qemu = readQemuPid(dir);
  const qemuStart = qemu ? procStartTime(qemu) : undefined;
  if (isProcessAlive(waiterPid, waiterStart)) {
    killQuietly(waiterPid, 'SIGKILL');
    await waitProcessGone(waiterPid, waiterStart, 5000);
  }
  if (!qemu || !qemuStart || !isQemu(qemu)) return;
  try {
    const qmp = await QmpClient.connect(dir, 'qmp.sock', 1000);
    await qmp.execute('quit').catch(() => undefined);
    qmp.close();
  } catch {
    // QMP gone: SIGKILL below
  }
  if (!(await waitProcessGone(qemu, qemuStart, 3000))) {
    killQuietly(qemu, 'SIGKILL');
    await waitProcessGone(qemu, qemuStart, 5000);
  }
}

function isQemu(pid: number): boolean {
  try {
    return path.basename(readlinkSync(`/proc/${pid}/exe`)).startsWith('qemu');
  } catch {
    return false;
  }
}
