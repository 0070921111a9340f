import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { fileURLToPath } from 'node:url';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const NESTBOX = path.join(REPO, 'bin', 'nestbox');

export interface CliResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** A main process that prints 0, 1, 2 … every 0.1 s (state that must survive a checkpoint, fork, pause or move). */
export const COUNTER = ['sh', '-c', 'i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done'];

/** A private state root for one test file; removed (with its containers) by `dispose`. */
export class TestRoot {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'nestbox-test-'));

  /** Run the real CLI with this root. */
  nb(args: string[], opts: RunOptions = {}): Promise<CliResult> {
    return runCli(['--root', this.dir, ...args], opts);
  }

  /** Run the CLI and fail the test unless it exits 0; its stdout. */
  async ok(args: string[], opts: RunOptions = {}): Promise<string> {
    const r = await this.nb(args, opts);
    assert.equal(r.code, 0, `nestbox ${args.join(' ')} failed: ${r.stderr}`);
    return r.stdout;
  }

  /** The last number a COUNTER container printed. */
  async lastCount(name: string): Promise<number> {
    return Number((await this.ok(['logs', name])).trim().split('\n').pop());
  }

  /** Fail unless NAME's COUNTER goes on counting (see `assertCounting`). */
  async assertCounting(name: string, what: string): Promise<void> {
    await assertCounting(() => this.lastCount(name), what);
  }

  /** `nestbox inspect NAME`, parsed (docker-shaped JSON, read field by field). */
  async inspect(name: string): Promise<any> {
    return JSON.parse(await this.ok(['inspect', name]))[0];
  }

  async dispose(): Promise<void> {
    const ids = (await this.nb(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
    if (ids.length) await this.nb(['rm', '-f', ...ids]);
    // the default network's bridge and DNS server stay up after its last container (as docker0)
    await this.nb(['network', 'prune', '-f']).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}

export function runCli(args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return runCommand(NESTBOX, args, opts);
}

export interface RunOptions {
  input?: string;
  env?: Record<string, string | undefined>;
  timeoutMs?: number;
  /** Appended to the timeout error (e.g. a server's log). */
  context?: () => string;
}

/** Run a command to completion, capturing its output; stdin gets `input` (or is closed). */
export function runCommand(command: string, args: string[], opts: RunOptions = {}): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      env: { ...process.env, ...opts.env },
      stdio: ['pipe', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`${path.basename(command)} ${args.join(' ')} timed out\nstdout: ${stdout}\nstderr: ${stderr}${opts.context ? `\n${opts.context()}` : ''}`));
    }, opts.timeoutMs ?? 180_000);
    child.on('error', reject);
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    if (opts.input !== undefined) child.stdin.end(opts.input);
    else child.stdin.end();
  });
}

/** Processes whose command line mentions `needle` (to prove nothing is left running). */
export async function processesMatching(needle: string): Promise<string[]> {
  const { readdirSync, readFileSync } = await import('node:fs');
  const out: string[] = [];
  for (const pid of readdirSync('/proc').filter((p) => /^\d+$/.test(p))) {
    try {
      const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(needle) && Number(pid) !== process.pid) out.push(`${pid}: ${cmd}`);
    } catch {
      // gone
    }
  }
  return out;
}

/**
 * Fail unless a COUNTER advances by more than 3 within 30 s. A deadline, not a fixed sleep: with
 * the suite's VMs sharing 2 cores, a guest may count slower than its 10 per second, and a start
 * from a checkpoint translates its code again; a stalled counter still fails.
 */
export async function assertCounting(count: () => Promise<number>, what: string, timeoutMs = 30_000): Promise<void> {
  const from = await count();
  const deadline = Date.now() + timeoutMs;
  let now = from;
  while (now <= from + 3) {
    assert.ok(Date.now() < deadline, `${what}: the counter stayed at ${now} (from ${from}) for ${timeoutMs / 1000} s`);
    await sleep(250);
    now = await count();
  }
}

/** Poll `ready` every `pollMs` until it holds; fails the test with `what` after `timeoutMs` (a kill point that never came). */
export async function waitUntil(ready: () => boolean, what: string, timeoutMs = 30_000, pollMs = 2): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!ready()) {
    assert.ok(Date.now() < deadline, what);
    await sleep(pollMs);
  }
}
