import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { BackendError } from '../../core/errors.js';
import { guestDir } from '../../core/paths.js';
import { detectAccel, hostTscKhz } from './accel.js';
import type { QemuConfig } from './command.js';

/**
 * The QEMU configuration of a sandbox VM: the guest kernel and initramfs, the accelerator, the
 * kernel arguments. One function for the engine's VM backend and the OCI runtime, so a template
 * or checkpoint saved by one matches the machine the other builds.
 */
export function sandboxQemuConfig(o: { memoryMiB: number; cpus: number; dir: string; rootDisk: string; rwDisk: boolean }): QemuConfig {
  const guest = guestDir();
  const kernel = path.join(guest, 'vmlinux');
  const initrd = path.join(guest, 'initramfs.cpio');
  for (const f of [kernel, initrd]) {
    if (!existsSync(f)) throw new BackendError(`guest file \`${f}\` is missing: run the set-up command from the README (scripts/setup.sh)`, 'GUEST_MISSING');
  }
  const accel = detectAccel().accel;
  return {
    accel,
    memoryMiB: o.memoryMiB,
    cpus: o.cpus,
    kernel,
    initrd,
    dir: o.dir,
    rootDisk: o.rootDisk,
    rwDisk: o.rwDisk,
    append: (process.env.NESTBOX_KERNEL_ARGS ?? '').split(/\s+/).filter(Boolean),
    ...(accel === 'tcg' ? { hostTscKhz: hostTscKhz() } : {}),
  };
}
