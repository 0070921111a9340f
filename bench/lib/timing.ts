import { spawn, type SpawnOptions } from 'node:child_process';

export interface TimedRun {
  /** Wall time from just before spawn() to the child's exit, in milliseconds. */
  ms: number;
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

const KEEP = 16 * 1024;

/**
 * Spawn a command and time it from spawn to exit (not to the closing of its pipes: a daemonising
 * child may keep them open). Output is kept (the last 16 KiB) for error messages.
 */
export function timedSpawn(command: string, args: readonly string[], opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<TimedRun> {
  const { timeoutMs = 180_000, ...spawnOpts } = opts;
  return new Promise((resolve, reject) => {
    let stdout = '';
    let stderr = '';
    const t0 = process.hrtime.bigint();
    const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], ...spawnOpts });
    child.stdout?.on('data', (d: Buffer) => (stdout = (stdout + d.toString()).slice(-KEEP)));
    child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-KEEP)));
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
      reject(new Error(`\`${command} ${args.join(' ')}\` timed out after ${timeoutMs} ms; stderr: ${stderr.trim().slice(-500)}`));
    }, timeoutMs);
    child.once('error', (err) => {
      clearTimeout(timer);
      reject(new Error(`spawn \`${command}\`: ${err.message}`));
    });
    child.once('exit', (code, signal) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      clearTimeout(timer);
      // let the pipes drain so the message of a failure is complete
      setImmediate(() => resolve({ ms, code, signal, stdout, stderr }));
    });
  });
}

/** timedSpawn that fails unless the command exits 0; returns the milliseconds. */
export async function timeOk(command: string, args: readonly string[], opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<number> {
  const r = await timedSpawn(command, args, opts);
  if (r.code !== 0) {
    const why = r.signal ? `killed by ${r.signal}` : `exit ${r.code}`;
    throw new Error(`\`${[command, ...args].join(' ')}\`: ${why}${r.stderr.trim() ? `: ${r.stderr.trim().split('\n').slice(-3).join(' | ').slice(0, 600)}` : ''}`);
  }
  return r.ms;
}

/** Run a command to completion (untimed set-up/tear-down); throws on a non-zero exit. */
export async function sh(command: string, args: readonly string[], opts: SpawnOptions & { timeoutMs?: number } = {}): Promise<string> {
  const r = await timedSpawn(command, args, opts);
  if (r.code !== 0) {
    throw new Error(`\`${[command, ...args].join(' ')}\`: exit ${r.code ?? r.signal}: ${(r.stderr || r.stdout).trim().slice(-600)}`);
  }
  return r.stdout;
}

/** Time an in-process async operation in milliseconds. */
export async function timeAsync(fn: () => Promise<unknown>): Promise<number> {
  const t0 = process.hrtime.bigint();
  await fn();
  return Number(process.hrtime.bigint() - t0) / 1e6;
}
