import * as path from 'node:path';
import type { Container } from '../../core/container.js';
import type { ResolvedUser } from './passwd.js';
import { seccompProfile } from './seccomp.js';

/** Docker's default capability set. */
const CAPS = [
  'CAP_CHOWN', 'CAP_DAC_OVERRIDE', 'CAP_FSETID', 'CAP_FOWNER', 'CAP_MKNOD', 'CAP_NET_RAW', 'CAP_SETGID', 'CAP_SETUID',
  'CAP_SETFCAP', 'CAP_SETPCAP', 'CAP_NET_BIND_SERVICE', 'CAP_SYS_CHROOT', 'CAP_KILL', 'CAP_AUDIT_WRITE',
];

const CPU_PERIOD_US = 100_000;

/** The runtime-spec config.json for a process-isolated container. */
export function bundleConfig(c: Container, user: ResolvedUser, rootfs: string, extraMounts: object[] = []): object {
  const p = c.config.process;
  const env = p.env.some((e) => e.startsWith('HOME=')) ? p.env : [...p.env, `HOME=${user.home}`];
  const limits = c.config.limits;
  const resources: Record<string, unknown> = {
    devices: [{ allow: false, access: 'rwm' }],
    // --memory: memory and memory+swap alike, so the limit cannot be dodged by swapping (Docker's default)
    ...(limits?.memoryMiB ? { memory: { limit: limits.memoryMiB * 1024 ** 2, swap: limits.memoryMiB * 1024 ** 2 } } : {}),
    // --cpus: a CFS quota per 100 ms period
    ...(limits?.nanoCpus ? { cpu: { period: CPU_PERIOD_US, quota: Math.max(1000, Math.round((limits.nanoCpus / 1e9) * CPU_PERIOD_US)) } } : {}),
  };
  return {
    ociVersion: '1.0.2',
    process: {
      terminal: false,
      user: { uid: user.uid, gid: user.gid, ...(user.additionalGids.length ? { additionalGids: user.additionalGids } : {}) },
      args: p.args,
      env,
      cwd: p.cwd,
      capabilities: { bounding: CAPS, effective: CAPS, permitted: CAPS },
      rlimits: [{ type: 'RLIMIT_NOFILE', hard: 1024, soft: 1024 }],
      noNewPrivileges: false,
    },
    root: { path: rootfs, readonly: c.config.readOnly },
    hostname: c.config.hostname,
    mounts: [
      { destination: '/proc', type: 'proc', source: 'proc' },
      { destination: '/dev', type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'strictatime', 'mode=755', 'size=65536k'] },
      { destination: '/dev/pts', type: 'devpts', source: 'devpts', options: ['nosuid', 'noexec', 'newinstance', 'ptmxmode=0666', 'mode=0620', 'gid=5'] },
      { destination: '/dev/shm', type: 'tmpfs', source: 'shm', options: ['nosuid', 'noexec', 'nodev', 'mode=1777', 'size=65536k'] },
      { destination: '/dev/mqueue', type: 'mqueue', source: 'mqueue', options: ['nosuid', 'noexec', 'nodev'] },
      { destination: '/sys', type: 'sysfs', source: 'sysfs', options: ['nosuid', 'noexec', 'nodev', 'ro'] },
      { destination: '/etc/hostname', type: 'bind', source: path.join(c.dir, 'hostname'), options: ['rbind', 'ro'] },
      { destination: '/etc/hosts', type: 'bind', source: path.join(c.dir, 'hosts'), options: ['rbind', 'ro'] },
      ...extraMounts,
    ],
    linux: {
      resources,
      namespaces: [{ type: 'pid' }, { type: 'network' }, { type: 'ipc' }, { type: 'uts' }, { type: 'mount' }],
      seccomp: seccompProfile(),
      maskedPaths: ['/proc/acpi', '/proc/asound', '/sys/devices/virtual/powercap', '/proc/kcore', '/proc/keys', '/proc/latency_stats', '/proc/timer_list', '/proc/timer_stats', '/proc/sched_debug', '/proc/scsi', '/sys/firmware'],
      readonlyPaths: ['/proc/bus', '/proc/fs', '/proc/irq', '/proc/sys', '/proc/sysrq-trigger'],
    },
  };
}

/**
 * The bundle's network part for one start: join the namespace nestbox made (its veths are in
 * place) instead of a fresh empty one, and bind the resolv.conf written next to `hosts`.
 */
export function withNetwork(config: { mounts: { destination: string }[]; linux: { namespaces: { type: string; path?: string }[] } }, dir: string, netns?: string, resolv?: boolean) {
  const namespaces = config.linux.namespaces.map((n) => (n.type === 'network' ? { type: 'network', ...(netns ? { path: netns } : {}) } : n));
  const mounts = config.mounts.filter((m) => m.destination !== '/etc/resolv.conf');
  if (resolv) mounts.push({ destination: '/etc/resolv.conf', type: 'bind', source: path.join(dir, 'resolv.conf'), options: ['rbind', 'ro'] } as never);
  return { ...config, mounts, linux: { ...config.linux, namespaces } };
}
