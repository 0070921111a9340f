import type { MountSpec } from './mount-spec.js';
import type { ProcessSpec } from '../guest/messages.js';

export type Isolation = 'vm' | 'process';
export type ContainerStatus = 'created' | 'running' | 'paused' | 'exited' | 'removing';

/** What `create` decided; never changes after creation. */
export interface ContainerConfig {
  id: string;
  name: string;
  created: string;
  image: string;
  imageId: string;
  isolation: Isolation;
  hostname: string;
  process: ProcessSpec;
  /** The image's own command (for inspect), after --entrypoint and CMD were applied. */
  path: string;
  readOnly: boolean;
  memoryMiB: number;
  cpus: number;
  /**
   * What the user limited (`--memory`, `--cpus`): enforced by runc's cgroups for process
   * isolation. A VM is limited by its size (memoryMiB, cpus) whether given or not; a process
   * container without these is unlimited, as in Docker.
   */
  limits?: { memoryMiB?: number; nanoCpus?: number };
  autoRemove: boolean;
  /** `-a` stdin kept open for attach (`-i`). */
  openStdin: boolean;
  /** /etc/machine-id of the sandbox (32 hex digits); absent in containers made before it existed. */
  machineId?: string;
  /** false: never start from a VM template (`--no-template`). */
  template?: boolean;
  /** Volumes, host directories and tmpfs mounts (absent: none). */
  mounts?: MountSpec[];
  /** `none`, or the first network's name (docker's HostConfig.NetworkMode); absent in containers made before networks. */
  networkMode?: string;
  /** `--dns` resolvers (absent: the network's own DNS). */
  dns?: string[];
  /** A warm-pool sandbox (src/core/pool.ts), not a user's container: the server process that keeps it. */
  pool?: { pid: number; start?: string };
}

/** What happened at run time; rewritten atomically on each transition. */
export interface ContainerState {
  status: ContainerStatus;
  /** Host pid of the process holding the sandbox (QEMU or the runc shim). */
  pid?: number;
  /** /proc/<pid>/stat start time, to tell the pid apart from a reused one. */
  pidStart?: string;
  startedAt?: string;
  finishedAt?: string;
  exitCode?: number;
  /** Why it exited when it was not the container's own doing (VMM died, start failed). */
  error?: string;
  /** Pid of the main process inside the sandbox. */
  guestPid?: number;
  restartCount: number;
  accel?: string;
  /** Key of the VM template the sandbox was restored from (absent: it booted). */
  template?: string;
  /** Status `created` with its QEMU up and paused, the agent waiting for RUN (a warm-pool sandbox). */
  warm?: boolean;
}

export interface Container {
  config: ContainerConfig;
  state: ContainerState;
  dir: string;
}

export const SHORT_ID = 12;
export const shortId = (id: string) => id.slice(0, SHORT_ID);
