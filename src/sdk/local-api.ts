import { Readable } from 'node:stream';
import type { Container } from '../core/container.js';
import { mergeEnv, type CreateOptions } from '../core/create-spec.js';
import { Engine, type EngineOptions } from '../core/engine.js';
import { readLogs } from '../core/logs.js';
import { NotFoundError } from '../core/errors.js';
import { parseSignal } from '../core/signals.js';
import { parsePlatform } from '../registry/platform.js';
import { envList, KEEP_ALIVE_CMD, type ExecOptions, type LogsOptions, type OutputChunk, type PullSpec, type SandboxApi, type SandboxInfo, type SandboxSpec, type StdinSource } from './api.js';

/** The SDK in-process: straight onto the Engine, no server. */
export class LocalApi implements SandboxApi {
  readonly engine: Engine;

  constructor(opts: EngineOptions = {}) {
    this.engine = new Engine(opts);
  }

  async hasImage(ref: string): Promise<boolean> {
    try {
      await this.engine.images.resolve(ref);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  async pull(ref: string, opts: PullSpec): Promise<{ ref: string; digest: string }> {
    const r = await this.engine.images.pull(ref, {
      ...(opts.platform ? { platform: parsePlatform(opts.platform) } : {}),
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
    });
    return { ref: r.ref, digest: r.digest };
  }

  async createAndStart(spec: SandboxSpec): Promise<string> {
    const c = await this.engine.create(createOptions(spec));
    try {
      await this.engine.start(c.config.id);
    } catch (err) {
      await this.engine.remove(c.config.id, { force: true }).catch(() => undefined);
      throw err;
    }
    return c.config.id;
  }

  async inspect(id: string): Promise<SandboxInfo> {
    return infoOf(await this.engine.inspect(id));
  }

  async exec(id: string, cmd: string[], opts: ExecOptions): Promise<number> {
    const c = await this.engine.inspect(id);
    const env = envList(opts.env);
    const user = opts.user ?? c.config.process.user;
    const stdin = opts.stdin === undefined ? undefined : toReadable(opts.stdin);
    const r = await this.engine.exec(
      c,
      { args: cmd, env: mergeEnv(c.config.process.env, env ?? []), cwd: opts.cwd ?? c.config.process.cwd, ...(user ? { user } : {}), tty: false, stdin: stdin !== undefined },
      { ...(stdin ? { stdin } : {}), onOutput: (stream, data) => (stream === 'stdout' ? opts.onStdout : opts.onStderr)?.(data) },
    );
    // the same words the API server sends, so both modes report a failed start alike
    if (r.error) opts.onStderr?.(Buffer.from(`nestbox: ${r.error}\n`));
    return r.exitCode;
  }

  async *logs(id: string, opts: LogsOptions): AsyncIterable<OutputChunk> {
    const c = await this.engine.inspect(id);
    for await (const e of readLogs(c, { ...(opts.follow ? { follow: true } : {}), ...(opts.signal ? { signal: opts.signal } : {}) })) {
      yield { stream: e.stream, data: e.data };
    }
  }

  wait(id: string): Promise<number> {
    return this.engine.wait(id);
  }

  stop(id: string, timeoutSec: number): Promise<void> {
    return this.engine.stop(id, timeoutSec);
  }

  kill(id: string, signal: string): Promise<void> {
    return this.engine.kill(id, parseSignal(signal));
  }

  async remove(id: string, force: boolean): Promise<void> {
    await this.engine.remove(id, { force });
  }

  async close(): Promise<void> {}
}

export function createOptions(spec: SandboxSpec): CreateOptions {
  const env = envList(spec.env);
  const o: CreateOptions = { image: spec.image, cmd: spec.cmd ?? KEEP_ALIVE_CMD };
  if (spec.entrypoint !== undefined) o.entrypoint = spec.entrypoint;
  if (spec.name !== undefined) o.name = spec.name;
  if (env) o.env = env;
  if (spec.workdir !== undefined) o.workdir = spec.workdir;
  if (spec.user !== undefined) o.user = spec.user;
  if (spec.hostname !== undefined) o.hostname = spec.hostname;
  if (spec.isolation !== undefined) o.isolation = spec.isolation;
  if (spec.memoryMiB !== undefined) o.memoryMiB = spec.memoryMiB;
  if (spec.cpus !== undefined) o.cpus = spec.cpus;
  if (spec.readOnly !== undefined) o.readOnly = spec.readOnly;
  return o;
}

function infoOf(c: Container): SandboxInfo {
  return {
    id: c.config.id,
    name: c.config.name,
    image: c.config.image,
    isolation: c.config.isolation,
    status: c.state.status,
    ...(c.state.status === 'exited' && c.state.exitCode !== undefined ? { exitCode: c.state.exitCode } : {}),
  };
}

export function toReadable(src: StdinSource): Readable {
  if (src instanceof Readable) return src;
  const buf = typeof src === 'string' ? Buffer.from(src) : Buffer.from(src.buffer, src.byteOffset, src.byteLength);
  return Readable.from(buf.length ? [buf] : []);
}
