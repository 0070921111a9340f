import { spawn } from 'node:child_process';
import type { Readable } from 'node:stream';
import { BackendError } from '../core/errors.js';
import { procStartTime } from '../core/proc.js';
import { runtimeShimPath } from './vm-files.js';

export interface Waiter {
  /** The waiter's pid (after it forked away from us, unless foreground): what goes in the pid file. */
  pid: number;
  pidStart?: string;
  /** Its sync line: `ok PID`, `started PID GUESTPID`, or `error CODE MESSAGE`. */
  report: string;
  /** Settles with the waiter's exit; meaningful in the foreground only (else it is the fork that left). */
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** Stop watching it, so this process can exit while it lives on (reparented to the caller). */
  release(): void;
}

/**
 * Start nestbox-runtime-shim with the caller's stdio (fds 0-2: it holds them for the workload) and
 * wait for its one-line report on fd 3. It forks away from us, so that the caller (a child
 * subreaper) and not this short-lived CLI reaps it; `foreground` keeps it our child instead.
 */
export async function spawnWaiter(args: string[], cwd: string, timeoutMs: number, foreground = false): Promise<Waiter> {
  const shim = runtimeShimPath();
  const child = spawn(shim, foreground ? [args[0]!, '--foreground', ...args.slice(1)] : args, { cwd, detached: true, stdio: [0, 1, 2, 'pipe'] });
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
    child.once('exit', (code, signal) => resolve({ code, signal }));
  });
  const spawned = await new Promise<boolean>((resolve) => {
    child.once('spawn', () => resolve(true));
    child.once('error', () => resolve(false));
  });
  if (!spawned || child.pid === undefined) {
    throw new BackendError(`start \`${shim}\`: it is missing or not executable (run scripts/setup.sh, or set NESTBOX_RUNTIME_SHIM)`, 'BACKEND_MISSING');
  }
  const sync = child.stdio[3] as Readable;
  let report: string;
  try {
    report = await readLine(sync, timeoutMs);
  } catch (err) {
    child.kill('SIGKILL');
    throw err;
  }
  sync.destroy();
  const reported = /^(?:ok|started) (\d+)/.exec(report);
  const pid = reported ? Number(reported[1]) : child.pid;
  const pidStart = procStartTime(pid);
  return {
    pid,
    ...(pidStart ? { pidStart } : {}),
    report,
    exited,
    release: () => child.unref(),
  };
}

function readLine(stream: Readable, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let text = '';
    const timer = setTimeout(() => done(new BackendError(`nestbox-runtime-shim did not report within ${timeoutMs} ms`, 'START_TIMEOUT')), timeoutMs);
    const done = (err?: Error) => {
      clearTimeout(timer);
      stream.removeAllListeners('data').removeAllListeners('end').removeAllListeners('error');
      if (err) reject(err);
      else resolve(text.split('\n')[0] ?? '');
    };
    stream.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      if (text.includes('\n')) done();
    });
    stream.once('end', () => done());
    stream.once('error', (err) => done(err));
  });
}

/** `error CODE MESSAGE` → [code, message]; undefined for other reports. */
export function parseError(report: string): { code: number; message: string } | undefined {
  const m = /^error (\d+) (.*)$/.exec(report);
  return m ? { code: Number(m[1]), message: m[2]! } : undefined;
}
