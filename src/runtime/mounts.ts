import { statSync } from 'node:fs';
import type { ResolvedMount } from '../vm/mount-plan.js';
import type { RuntimeLog } from './log.js';
import type { OciMount } from './oci-config.js';

/** Mounts the guest agent sets up itself in every VM (proc, sysfs, devtmpfs, devpts, /dev/shm). */
const AGENT_MOUNTS = new Set(['/proc', '/sys', '/dev', '/dev/pts', '/dev/shm']);
/** What callers add that has no meaning in a VM with its own kernel. */
const NOT_APPLICABLE = new Set(['/dev/mqueue', '/sys/fs/cgroup']);
/** Files callers bind from the host that the guest agent writes for itself, or that need a network the VM does not have yet. */
const AGENT_FILES = new Set(['/etc/hostname', '/etc/hosts', '/etc/resolv.conf', '/run/.containerenv']);

/**
 * config.json mounts in a VM, as the engine's volumes do them (src/vm/mount-plan.ts): a bind
 * mount of a host directory becomes a virtio-9p share, a tmpfs a tmpfs in the guest; `ro` is
 * kept. The agent's own mounts cover proc, sysfs, /dev and friends. What cannot be done (a bind
 * of a single file, other types) is reported in the log.
 */
export function vmMounts(mounts: OciMount[] | undefined, log: RuntimeLog): ResolvedMount[] {
  const out: ResolvedMount[] = [];
  for (const m of mounts ?? []) {
    if (!m || typeof m.destination !== 'string' || !m.destination.startsWith('/')) continue;
    const options = Array.isArray(m.options) ? m.options : [];
    const readOnly = options.includes('ro');
    if (AGENT_MOUNTS.has(m.destination) || NOT_APPLICABLE.has(m.destination)) {
      log.debug(`mount ${m.destination} (${m.type ?? 'bind'}): provided by the guest agent`);
    } else if (AGENT_FILES.has(m.destination)) {
      log.debug(`mount ${m.destination}: the guest writes its own`);
    } else if (m.type === 'tmpfs') {
      const keep = options.filter((o) => /^(size|mode)=[0-9a-zA-Z]+$/.test(o));
      out.push({ kind: 'tmpfs', target: m.destination, readOnly, options: keep.join(',') });
    } else if (m.type === 'bind' || options.includes('bind') || options.includes('rbind')) {
      const st = m.source ? statSync(m.source, { throwIfNoEntry: false }) : undefined;
      if (st?.isDirectory()) out.push({ kind: 'dir', target: m.destination, readOnly, dir: m.source! });
      else log.warn(`bind mount of \`${m.source ?? '?'}\` at ${m.destination} is not applied in the VM: ${st ? 'only directories can be shared into a VM' : 'the source does not exist'}`);
    } else {
      log.warn(`${m.type ?? 'unknown'} mount at ${m.destination} is not applied in the VM (bind mounts of directories and tmpfs are)`);
    }
  }
  return out;
}
