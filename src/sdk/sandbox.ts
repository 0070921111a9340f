import type { ExecOptions, OutputChunk, SandboxApi, SandboxInfo } from './api.js';
import { readSandboxFile, writeSandboxFile } from './files.js';
import { collect, removeQuietly, type Output } from './output.js';
import { StoppedSandbox } from './stopped-sandbox.js';

export interface RunResult {
  exitCode: number;
  stdout: string;
  stderr: string;
}

export type RunOptions = Omit<ExecOptions, 'onStdout' | 'onStderr'>;

/**
 * A running sandbox: `Nestbox.create` gives one. Commands run in it as exec sessions; disposal
 * (`await using`) removes it with force. `stop()` gives a `StoppedSandbox`.
 */
export class Sandbox implements AsyncDisposable {
  constructor(
    private readonly api: SandboxApi,
    readonly id: string,
    readonly name: string,
  ) {}

  /** Run a command to its end and collect its output (UTF-8). A failing command is not an error: see `exitCode`. */
  async run(cmd: string[], opts: RunOptions = {}): Promise<RunResult> {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const exitCode = await this.api.exec(this.id, cmd, { ...opts, onStdout: (d) => out.push(d), onStderr: (d) => err.push(d) });
    return { exitCode, stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
  }

  /** Run a command, streaming its output to the callbacks as it comes; resolves with its exit code. */
  async exec(cmd: string[], opts: ExecOptions = {}): Promise<{ exitCode: number }> {
    return { exitCode: await this.api.exec(this.id, cmd, opts) };
  }

  readFile(path: string): Promise<Buffer> {
    return readSandboxFile(this.api, this.id, path);
  }

  writeFile(path: string, data: Buffer | Uint8Array | string): Promise<void> {
    return writeSandboxFile(this.api, this.id, path, data);
  }

  /** The main process's output so far. */
  async logs(): Promise<Output> {
    return collect(this.api.logs(this.id, {}));
  }

  /** The main process's output as it comes; with `follow`, until it exits or `signal` aborts. */
  streamLogs(opts: { follow?: boolean; signal?: AbortSignal } = {}): AsyncIterable<OutputChunk> {
    return this.api.logs(this.id, opts);
  }

  inspect(): Promise<SandboxInfo> {
    return this.api.inspect(this.id);
  }

  /** Send a signal (name or number) to the main process. */
  kill(signal = 'KILL'): Promise<void> {
    return this.api.kill(this.id, signal);
  }

  /** Wait for the main process to exit on its own; gives the stopped sandbox. */
  async wait(): Promise<StoppedSandbox> {
    return new StoppedSandbox(this.api, this.id, this.name, await this.api.wait(this.id));
  }

  /** SIGTERM, then SIGKILL after `timeoutSec` (default 10). */
  async stop(opts: { timeoutSec?: number } = {}): Promise<StoppedSandbox> {
    await this.api.stop(this.id, opts.timeoutSec ?? 10);
    return new StoppedSandbox(this.api, this.id, this.name, await this.api.wait(this.id));
  }

  /** Remove it; `force` (the default here) stops it first. */
  remove(opts: { force?: boolean } = {}): Promise<void> {
    return this.api.remove(this.id, opts.force ?? true);
  }

  /** `await using`: remove with force; a sandbox already gone is fine. */
  async [Symbol.asyncDispose](): Promise<void> {
    await removeQuietly(this.api, this.id);
  }
}
