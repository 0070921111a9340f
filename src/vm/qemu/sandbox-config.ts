import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { BackendError } from '../../core/errors.js';
import { guestDir } from '../../core/paths.js';
import { detectAccel, hostTscKhz } from './accel.js';
import type { QemuConfig } from './command.js';

/**
 * Kernel arguments of a TCG guest. `tsc=reliable`: with TSC calibration skipped (tsc_early_khz),
 * the clocksource watchdog still compares the TSC against jiffies, which lose ticks whenever a TCG
 * vCPU is descheduled, marks the TSC unstable and falls back to `refined-jiffies` — and a jiffies
 * clock needs the periodic tick, so an idle guest takes 250 timer interrupts a second (measured:
 * ~4.5% of a host core per idle sandbox; 100 of them would need more than this machine's two
 * cores). Under TCG the guest TSC is the host's (stopped while the VM is, saved and restored with
 * it), so it is a sound clocksource; with it the guest is tickless when idle (~13 interrupts/s,
 * ~0.5% of a core). In the arguments, so in the template key: templates made without it are rebuilt.
 */
export const TCG_GUEST_ARGS = ['tsc=reliable'];

/**
 * Kernel arguments of every guest: Debian's kernel, trimmed of what a one-container VM does not
 * use and pays for at every page allocation, context switch, exec or open (and, under TCG, in
 * code a restored sandbox translates again at its start: together ~4% of it; docs/templates.md).
 * - `lsm=`: no AppArmor or TOMOYO, whose hooks run with no policy loaded in the guest (the VM is
 *   the boundary; docs/kubernetes.md); kept are the LSMs that act without one (lockdown,
 *   capabilities, Landlock for programs that sandbox themselves, Yama's ptrace scope, BPF).
 * - `cgroup_disable=memory`: nothing mounts cgroups in the guest; a container's memory limit is
 *   its VM's RAM. `psi=0`: no pressure-stall accounting (/proc/pressure) either.
 * - `vm.compaction_proactiveness=0`: no background compaction of a VM's few hundred MiB.
 */
export const GUEST_ARGS = ['lsm=lockdown,capability,landlock,yama,bpf', 'cgroup_disable=memory', 'psi=0', 'sysctl.vm.compaction_proactiveness=0'];

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
    append: [...GUEST_ARGS, ...(accel === 'tcg' ? TCG_GUEST_ARGS : []), ...(process.env.NESTBOX_KERNEL_ARGS ?? '').split(/\s+/).filter(Boolean)],
    ...(accel === 'tcg' ? { hostTscKhz: hostTscKhz() } : {}),
  };
}
