import type { Container } from './container.js';
import { sandboxFiles } from '../vm/sandbox-files.js';
import { networkSettings, portMap, type ContainerNetView } from './network-inspect.js';

/** `docker.io/library/busybox:latest` → `busybox:latest`; other refs unchanged. */
export function familiarImage(ref: string): string {
  return ref.replace(/^docker\.io\/library\//, '').replace(/^docker\.io\//, '');
}

/** Docker-compatible inspect document, plus a `Nestbox` section for what Docker cannot say. */
export function inspectDocument(c: Container, net: ContainerNetView = { endpoints: [], ports: [] }): Record<string, unknown> {
  const { config: cfg, state: st } = c;
  const running = st.status === 'running' || st.status === 'paused';
  return {
    Id: cfg.id,
    Created: cfg.created,
    Path: cfg.process.args[0],
    Args: cfg.process.args.slice(1),
    State: {
      Status: st.status,
      Running: running,
      Paused: st.status === 'paused',
      Restarting: false,
      OOMKilled: false,
      Dead: false,
      Pid: running ? (st.pid ?? 0) : 0,
      ExitCode: st.exitCode ?? 0,
      Error: st.error ?? '',
      StartedAt: st.startedAt ?? '0001-01-01T00:00:00Z',
      FinishedAt: st.finishedAt ?? '0001-01-01T00:00:00Z',
    },
    Image: cfg.imageId,
    Name: `/${cfg.name}`,
    RestartCount: st.restartCount,
    LogPath: sandboxFiles(c.dir).log,
    HostConfig: {
      Isolation: cfg.isolation,
      AutoRemove: cfg.autoRemove,
      ReadonlyRootfs: cfg.readOnly,
      // a VM's size always; a process container's limits only when given (0: unlimited, as Docker)
      Memory: (cfg.isolation === 'vm' ? cfg.memoryMiB : cfg.limits?.memoryMiB ?? 0) * 1024 * 1024,
      NanoCpus: cfg.limits?.nanoCpus ?? (cfg.isolation === 'vm' ? cfg.cpus * 1e9 : 0),
      NetworkMode: cfg.networkMode ?? 'none',
      PortBindings: portMap(net.ports),
      Dns: cfg.dns ?? [],
    },
    NetworkSettings: networkSettings(net),
    Config: {
      Hostname: cfg.hostname,
      User: cfg.process.user ?? '',
      Tty: cfg.process.tty,
      OpenStdin: cfg.openStdin,
      Env: cfg.process.env,
      Cmd: cfg.process.args,
      Image: cfg.image,
      WorkingDir: cfg.process.cwd,
    },
    Nestbox: {
      Isolation: cfg.isolation,
      Accelerator: st.accel ?? null,
      Template: st.template ?? null,
      MonitorPid: running ? (st.pid ?? null) : null,
      GuestPid: st.guestPid ?? null,
      StateDir: c.dir,
      MemoryMiB: cfg.memoryMiB,
      VCpus: cfg.cpus,
    },
  };
}
