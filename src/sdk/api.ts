import type { Readable } from 'node:stream';
import type { Isolation } from '../core/container.js';

/**
 * The transport under the SDK: the few actions a sandbox needs, by container id. Two
 * implementations — `LocalApi` (the Engine, in-process) and `RemoteApi` (`nestbox serve` over
 * HTTP) — pass one shared test suite (test/integration/sdk.test.ts).
 */
export interface SandboxApi {
  /** Create and start; resolves with the id once the main process runs. */
  createAndStart(spec: SandboxSpec): Promise<string>;
  inspect(id: string): Promise<SandboxInfo>;
  exec(id: string, cmd: string[], opts: ExecOptions): Promise<number>;
  logs(id: string, opts: LogsOptions): AsyncIterable<OutputChunk>;
  /** Wait for the main process to exit; its exit code. */
  wait(id: string): Promise<number>;
  stop(id: string, timeoutSec: number): Promise<void>;
  kill(id: string, signal: string): Promise<void>;
  remove(id: string, force: boolean): Promise<void>;
  /** Whether the image is in the store (the embedded default image always is). */
  hasImage(ref: string): Promise<boolean>;
  /** Pull from a registry; the normalised reference and the digest it resolved to. */
  pull(ref: string, opts: PullSpec): Promise<{ ref: string; digest: string }>;
  close(): Promise<void>;
}

/** What `Nestbox.pull` takes. Credentials, when given, are used for this pull only. */
export interface PullSpec {
  /** `os/arch[/variant]`; default the host's. */
  platform?: string;
  credentials?: { username: string; password: string };
}

/** What `Nestbox.create` takes. */
export interface SandboxSpec {
  image: string;
  /** The main process. Default: `sleep infinity`, so the sandbox stays up for `run`/`exec`. */
  cmd?: string[];
  entrypoint?: string;
  name?: string;
  /** `KEY=value` or a record. */
  env?: string[] | Record<string, string>;
  workdir?: string;
  user?: string;
  hostname?: string;
  /** `vm` (default: its own QEMU microvm) or `process` (runc). */
  isolation?: Isolation;
  memoryMiB?: number;
  cpus?: number;
  readOnly?: boolean;
  /** Pull the image first: `missing` (default, as docker run), `always` or `never`. */
  pull?: 'missing' | 'always' | 'never';
  credentials?: { username: string; password: string };
}

export type StdinSource = Buffer | Uint8Array | string | Readable;

/** A command run in a running sandbox (an exec session). */
export interface ExecOptions {
  onStdout?: (data: Buffer) => void;
  onStderr?: (data: Buffer) => void;
  /** Fed to the command's stdin, then EOF. Without it, stdin is empty. */
  stdin?: StdinSource;
  env?: string[] | Record<string, string>;
  cwd?: string;
  user?: string;
}

export interface LogsOptions {
  follow?: boolean;
  signal?: AbortSignal;
}

export interface OutputChunk {
  stream: 'stdout' | 'stderr';
  data: Buffer;
}

export type SandboxStatus = 'created' | 'running' | 'paused' | 'exited' | 'removing';

export interface SandboxInfo {
  id: string;
  name: string;
  image: string;
  isolation: Isolation;
  status: SandboxStatus;
  exitCode?: number;
}

/** `{A: '1'}` → `['A=1']`. */
export function envList(env: SandboxSpec['env']): string[] | undefined {
  if (env === undefined) return undefined;
  return Array.isArray(env) ? env : Object.entries(env).map(([k, v]) => `${k}=${v}`);
}

export const KEEP_ALIVE_CMD = ['sleep', 'infinity'];
