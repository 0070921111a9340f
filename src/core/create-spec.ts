import type { ImageRecord } from '../image/types.js';
import type { ProcessSpec } from '../guest/messages.js';
import { InvalidArgumentError } from './errors.js';
import type { Isolation } from './container.js';
import type { MountSpec } from './mount-spec.js';
import type { NetworkRequest } from './network-attach.js';
import type { PortSpec } from './network-ports.js';

/** What a caller (CLI, API, SDK) asks `create` for; everything optional falls back to the image. */
export interface CreateOptions {
  image: string;
  cmd?: string[];
  /** `--entrypoint`: replaces the image's; an empty string clears it. */
  entrypoint?: string;
  name?: string;
  env?: string[];
  workdir?: string;
  user?: string;
  hostname?: string;
  tty?: boolean;
  openStdin?: boolean;
  isolation?: Isolation;
  memoryMiB?: number;
  cpus?: number;
  /** Exact CPU limit (`--cpus 0.5` → 5e8); `cpus` is it rounded up to whole vCPUs for a VM. */
  nanoCpus?: number;
  readOnly?: boolean;
  autoRemove?: boolean;
  /** `-v`, `--mount`, `--tmpfs`. */
  mounts?: MountSpec[];
  /** `--network` (+ `--ip`, `--network-alias`), `--dns`, `-p`; absent networks: the default one. */
  networks?: NetworkRequest[];
  dns?: string[];
  ports?: PortSpec[];
  /** `-P`: publish the image's ExposedPorts on random host ports. */
  publishAll?: boolean;
}

export const DEFAULT_PATH = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
export const DEFAULT_MEMORY_MIB = 256;
export const MIN_MEMORY_MIB = 64;

/** Docker's rules: entrypoint + cmd, env merged over the image's (later wins), workdir and user. */
export function processSpecFor(image: ImageRecord, opts: CreateOptions): ProcessSpec {
  const entrypoint = opts.entrypoint !== undefined ? (opts.entrypoint === '' ? [] : [opts.entrypoint]) : (image.config.Entrypoint ?? []);
  const cmd = opts.cmd && opts.cmd.length > 0 ? opts.cmd : opts.entrypoint !== undefined ? [] : (image.config.Cmd ?? []);
  const args = [...entrypoint, ...cmd];
  if (args.length === 0) throw new InvalidArgumentError(`no command specified: image ${opts.image} has no CMD or ENTRYPOINT; give one after the image name`);
  return {
    args,
    env: mergeEnv(image.config.Env ?? [DEFAULT_PATH], opts.env ?? []),
    cwd: opts.workdir || image.config.WorkingDir || '/',
    ...(opts.user || image.config.User ? { user: opts.user || image.config.User } : {}),
    tty: opts.tty ?? false,
    stdin: opts.openStdin ?? false,
  };
}

/**
 * Merge `KEY=VALUE` lists, later entries winning. A bare `KEY` (no `=`) is dropped: only a
 * front end acting for the user may fill it from the user's environment (the CLI's `-e KEY`,
 * see `fromHostEnv`) — an image or an API request must never read the host's variables.
 */
export function mergeEnv(base: string[], overrides: string[]): string[] {
  const out = new Map<string, string>();
  for (const kv of [...base, ...overrides]) {
    const eq = kv.indexOf('=');
    const key = eq < 0 ? kv : kv.slice(0, eq);
    if (!key) throw new InvalidArgumentError(`invalid environment variable "${kv}": the name is empty`);
    if (eq >= 0) out.set(key, kv);
  }
  if (!out.has('PATH')) out.set('PATH', DEFAULT_PATH);
  return [...out.values()];
}

/** Docker CLI semantics for `-e KEY` / env-file `KEY`: take the value from the caller's environment, or drop it. */
export function fromHostEnv(entries: string[], env: NodeJS.ProcessEnv = process.env): string[] {
  return entries.flatMap((kv) => {
    if (kv.includes('=')) return [kv];
    const value = env[kv];
    return value === undefined ? [] : [`${kv}=${value}`];
  });
}

/** `--memory 512m`, `1g`, `268435456` (bytes, as Docker) → MiB. */
export function parseMemory(value: string): number {
  const m = /^(\d+(?:\.\d+)?)([bkmg]?)b?$/i.exec(value.trim());
  if (!m) throw new InvalidArgumentError(`invalid --memory "${value}": use a number with a unit, e.g. 512m or 1g`);
  const n = Number(m[1]);
  const unit = (m[2] ?? '').toLowerCase();
  const bytes = unit === 'g' ? n * 1024 ** 3 : unit === 'm' ? n * 1024 ** 2 : unit === 'k' ? n * 1024 : n;
  const mib = Math.floor(bytes / 1024 ** 2);
  if (mib < MIN_MEMORY_MIB) throw new InvalidArgumentError(`invalid --memory "${value}": a sandbox needs at least ${MIN_MEMORY_MIB} MiB`);
  return mib;
}

/** `--cpus 1.5` → vCPUs for the VM (rounded up). */
export function parseCpus(value: string): number {
  return Math.ceil(parseNanoCpus(value) / 1e9);
}

/** `--cpus 1.5` → 1.5e9: the CPU time a process container may use (a runc CPU quota), as Docker's NanoCpus. */
export function parseNanoCpus(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n < 0.01 || n > 64) throw new InvalidArgumentError(`invalid --cpus "${value}": use a number between 0.01 and 64`);
  return Math.round(n * 1e9);
}
