import { existsSync } from 'node:fs';
import * as path from 'node:path';
import { guestDir } from '../../core/paths.js';
import { CTL_PORTS } from '../../guest/protocol.js';
import type { Accel } from './accel.js';
import type { VmMountPlan } from '../mount-plan.js';

export interface QemuConfig {
  accel: Accel;
  memoryMiB: number;
  cpus: number;
  kernel: string;
  initrd: string;
  /** Sandbox directory: sockets, log, events and the writable disk live here. */
  dir: string;
  rootDisk: string;
  /** Use the sandbox directory's writable disk (absent for --read-only containers). */
  rwDisk: boolean;
  /** Host TSC rate, passed to a TCG guest so it skips TSC calibration. */
  hostTscKhz?: number;
  /** Extra kernel command line words. */
  append?: string[];
  /** Guest RAM in a file (VM templates): `share` for the template itself, private copy-on-write for its clones. */
  ramFile?: { path: string; share: boolean; id?: string };
  /** Wait for device state (`-incoming defer`, then QMP migrate-incoming): a sandbox restored from a template. */
  incoming?: boolean;
  /**
   * The writable disk as fd set `RW_FDSET` (read-only and read-write fds the caller passes), not by
   * path: a restored QEMU reopens its disks when it resumes, after it dropped to `nobody`.
   */
  rwDiskFds?: { readOnly: number; readWrite: number };
  /** Size of TCG's translated-code cache (default TCG_TB_MIB). */
  tbMiB?: number;
  /** Network cards: virtio-net devices backed by host taps QEMU opens by name (net/sandbox-net.ts). */
  nics?: { tap: string; mac: string }[];
  /** Volume disks and shared host directories (mount-plan.ts). */
  mounts?: Pick<VmMountPlan, 'blk' | 'fs'>;
}

export const RW_FDSET = 2;

export const QEMU_BINARY = process.env.NESTBOX_QEMU ?? 'qemu-system-x86_64';
/**
 * TCG's translated-code cache. QEMU's default (1 GiB on 64-bit hosts) lets an idle guest's cache
 * grow to tens of MiB of host memory; 32 MiB holds a container's working set.
 */
export const TCG_TB_MIB = Number(process.env.NESTBOX_TCG_TB_MIB ?? 32);
/** The unprivileged user QEMU drops to after start-up (it needs no host file it has not opened). */
export const RUN_AS = process.env.NESTBOX_QEMU_USER ?? 'nobody';

/**
 * What QEMU under TCG is started through: `nestbox-vmm-exec` (shim/vmm-exec.c, installed by set-up
 * next to the guest kernel) turns transparent huge pages off for it, so a restored sandbox's code
 * cache and ROMs take the 4 KiB pages they touch, not 2 MiB each. Under KVM QEMU runs directly:
 * huge pages back a booted guest's RAM there, which the guest's speed depends on. Without the
 * launcher (not built) QEMU runs directly too.
 */
let vmmExec: string | null | undefined;
function tcgLauncher(): string | null {
  if (vmmExec === undefined) {
    const p = process.env.NESTBOX_VMM_EXEC ?? path.join(guestDir(), 'nestbox-vmm-exec');
    vmmExec = p && existsSync(p) ? p : null;
  }
  return vmmExec;
}

/** The whole command line of a sandbox's QEMU: [program, ...arguments]. */
export function qemuCommand(c: QemuConfig): string[] {
  const launcher = c.accel === 'tcg' ? tcgLauncher() : null;
  return [...(launcher ? [launcher] : []), QEMU_BINARY, ...qemuArgs(c)];
}

/** Names inside the sandbox directory: QEMU runs with it as cwd, so unix socket paths stay short. */
const rel = {
  qmp: 'qmp.sock',
  log: 'log',
  events: 'events',
  console: 'console.log',
  rwDisk: 'rw.ext4',
  ctl: (n: number) => `ctl-${n}.sock`,
};

/**
 * The QEMU command line for one sandbox (to run with `cwd` = the sandbox directory): microvm (virtio-mmio, no PCI, no firmware), direct PVH
 * boot of the uncompressed vmlinux, virtio-serial ports for the guest channel, seccomp sandbox on.
 */
/**
 * Under TCG the guest TSC ticks at the host's rate, and the kernel's early calibration of it
 * against the PIT fails whenever the vCPU thread is preempted — then boot hangs (measured: half
 * of the boots here). Telling the kernel the rate skips that calibration. (-icount also avoids the
 * hang but serialises vCPUs: a 2-vCPU guest then takes 35 s to bring up its second CPU.)
 */
function tscHint(c: QemuConfig): string[] {
  return c.accel === 'tcg' && c.hostTscKhz ? [`tsc_early_khz=${c.hostTscKhz}`] : [];
}

export function qemuArgs(c: QemuConfig): string[] {
  const f = rel;
  const args = [
    '-M', 'microvm,x-option-roms=off,rtc=on,isa-serial=on',
    '-accel', c.accel === 'kvm' ? 'kvm' : `tcg,tb-size=${c.tbMiB ?? TCG_TB_MIB}`,
    '-cpu', c.accel === 'kvm' ? 'host' : 'max',
    '-m', `${c.memoryMiB}M`,
    '-smp', String(c.cpus),
    '-nodefaults', '-no-user-config', '-nographic', '-no-reboot',
    // seccomp on. set*id must stay allowed for -runas to drop root after start-up (measured:
    // elevateprivileges=deny kills QEMU with SIGSYS there); once dropped, nobody has no privilege
    // left to regain. Then QEMU is confined to the sandbox directory: it needs no other host file.
    '-sandbox', 'on,obsolete=deny,elevateprivileges=allow,spawn=deny,resourcecontrol=deny',
    // A shared host directory is served by QEMU itself (virtio-9p) with the host's owners and
    // permissions, and QEMU's 9p server needs /proc/self/fd: such a QEMU keeps root and its own
    // root directory, confined by seccomp alone (see docs/volumes.md).
    ...(c.mounts?.fs.length ? [] : ['-chroot', c.dir, '-runas', RUN_AS]),
    '-serial', `file:${f.console}`,
    '-qmp', `unix:${f.qmp},server=on,wait=off`,
    '-kernel', c.kernel,
    '-initrd', c.initrd,
    '-append', ['console=ttyS0', 'reboot=t', 'panic=-1', 'quiet', 'loglevel=3', 'nomodeset', ...tscHint(c), ...(c.append ?? [])].join(' '),
    // the backend's id names the RAM block in a saved state: `ram` (templates), or `microvm.ram` to
    // match a booted guest's default RAM (checkpoints and forks must load under the saver's name)
    ...(c.ramFile ? ['-object', `memory-backend-file,id=${c.ramFile.id ?? 'ram'},size=${c.memoryMiB}M,mem-path=${c.ramFile.path},share=${c.ramFile.share ? 'on' : 'off'}`, '-machine', `memory-backend=${c.ramFile.id ?? 'ram'}`] : []),
    ...(c.incoming ? ['-incoming', 'defer'] : []),
    '-device', 'virtio-rng-device',
    '-device', 'virtio-serial-device,max_ports=8',
  ];
  for (let n = 0; n < CTL_PORTS; n++) {
    args.push('-chardev', `socket,id=ctl${n},path=${f.ctl(n)},server=on,wait=off`);
    args.push('-device', `virtserialport,chardev=ctl${n},name=org.nestbox.ctl.${n}`);
  }
  args.push('-chardev', `file,id=log,path=${f.log},append=on`, '-device', 'virtserialport,chardev=log,name=org.nestbox.log');
  args.push('-chardev', `file,id=events,path=${f.events},append=on`, '-device', 'virtserialport,chardev=events,name=org.nestbox.events');
  args.push('-drive', `id=root,file=${c.rootDisk},format=raw,if=none,readonly=on`, '-device', 'virtio-blk-device,drive=root,serial=nestbox-root');
  if (c.rwDisk) {
    // from fds, QEMU's image locks would conflict between the set's two open files: the disk is this sandbox's alone
    const fds = c.rwDiskFds;
    const file = fds ? `/dev/fdset/${RW_FDSET},file.locking=off` : f.rwDisk;
    if (fds) args.push('-add-fd', `fd=${fds.readOnly},set=${RW_FDSET}`, '-add-fd', `fd=${fds.readWrite},set=${RW_FDSET}`);
    args.push('-drive', `id=rw,file=${file},format=raw,if=none,cache=writeback,discard=unmap`, '-device', 'virtio-blk-device,drive=rw,serial=nestbox-rw');
  }
  for (const [i, n] of (c.nics ?? []).entries()) {
    // opened before QEMU drops to `nobody`; no vhost (no /dev/vhost-net here), offloads via vnet_hdr
    args.push('-netdev', `tap,id=net${i},ifname=${n.tap},script=no,downscript=no`, '-device', `virtio-net-device,netdev=net${i},mac=${n.mac}`);
  }
  for (const [i, v] of (c.mounts?.blk ?? []).entries()) {
    args.push('-drive', `id=vol${i},file=${optionValue(v.file)},format=raw,if=none,cache=writeback,discard=unmap${v.readOnly ? ',readonly=on' : ''}`);
    args.push('-device', `virtio-blk-device,drive=vol${i},serial=${v.serial}`);
  }
  for (const [i, s] of (c.mounts?.fs ?? []).entries()) {
    // passthrough: real owners and modes, as a bind mount under runc; QEMU resolves every path
    // below the share without following symlinks (the guest resolves them, inside the guest);
    // readonly=on is enforced by QEMU, whatever the guest does.
    args.push('-fsdev', `local,id=fs${i},path=${optionValue(s.dir)},security_model=passthrough${s.readOnly ? ',readonly=on' : ''}`);
    args.push('-device', `virtio-9p-device,fsdev=fs${i},mount_tag=${s.tag}`);
  }
  return args;
}

/** A value inside a QEMU `-opt key=value,…` list: commas are doubled. */
function optionValue(v: string): string {
  return v.replace(/,/g, ',,');
}
