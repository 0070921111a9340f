import type { RuntimeContext } from '../context.js';
import { writeStdout } from '../log.js';
import { OCI_VERSION } from '../version.js';

/**
 * `features`: what this runtime honours, in the runtime-spec features document format. JSON on
 * stdout and nothing else (callers parse it).
 */
export async function features(_ctx: RuntimeContext, _args: string[]): Promise<number> {
  const doc = {
    ociVersionMin: '1.0.0',
    ociVersionMax: OCI_VERSION,
    hooks: [],
    mountOptions: ['ro', 'rw', 'nosuid', 'nodev', 'noexec', 'bind', 'rbind'],
    linux: {
      namespaces: ['pid', 'network', 'ipc', 'uts', 'mount'],
      capabilities: [],
      cgroup: { v1: false, v2: false, systemd: false, systemdUser: false },
      seccomp: { enabled: false },
      apparmor: { enabled: false },
      selinux: { enabled: false },
    },
    annotations: {
      'io.nestbox.isolation': 'vm (default: its own QEMU microvm) or process (runc)',
      'io.nestbox.memory': 'VM memory, e.g. 512m (default 256m)',
      'io.nestbox.cpus': 'VM vCPUs (default 1)',
      'org.opencontainers.runtime-spec.features.v1.isolation': 'vm',
    },
  };
  writeStdout(`${JSON.stringify(doc, null, 2)}\n`);
  return 0;
}
