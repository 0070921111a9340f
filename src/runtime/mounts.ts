import type { RuntimeLog } from './log.js';
import type { OciMount } from './oci-config.js';

/** Mounts the guest agent sets up itself in every VM (proc, sysfs, devtmpfs, devpts, /dev/shm). */
const AGENT_MOUNTS = new Set(['/proc', '/sys', '/dev', '/dev/pts', '/dev/shm']);
/** What callers add that has no meaning in a VM with its own kernel. */
const NOT_APPLICABLE = new Set(['/dev/mqueue', '/sys/fs/cgroup']);
/** Files callers bind from the host that the guest agent writes for itself, or that need a network the VM does not have yet. */
const AGENT_FILES = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/run/.containerenv']);

/**
 * config.json mounts in a VM: the agent's own cover proc, sysfs, /dev and friends; everything
 * else is reported in the log, since the host's files are not shared into the guest (the rootfs
 * is copied into a disk at create).
 */
export function reportMounts(mounts: OciMount[] | undefined, log: RuntimeLog): void {
  for (const m of mounts ?? []) {
    if (!m || typeof m.destination !== 'string') continue;
    if (AGENT_MOUNTS.has(m.destination) || NOT_APPLICABLE.has(m.destination)) {
      log.debug(`mount ${m.destination} (${m.type ?? 'bind'}): provided by the guest agent`);
    } else if (AGENT_FILES.has(m.destination)) {
      log.debug(`mount ${m.destination}: the guest writes its own`);
    } else {
      const kind = m.type === 'tmpfs' ? 'tmpfs mount' : isBind(m) ? `bind mount of \`${m.source ?? '?'}\`` : `${m.type ?? 'unknown'} mount`;
      log.warn(`${kind} at ${m.destination} is not applied in the VM (nestbox-runtime shares no host directory into the guest yet); the container sees its rootfs there`);
    }
  }
}

function isBind(m: OciMount): boolean {
  return m.type === 'bind' || (m.options ?? []).some((o) => o === 'bind' || o === 'rbind');
}
