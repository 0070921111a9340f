import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';

/** Start time of a process (field 22 of /proc/<pid>/stat), or undefined when it is gone. */
export function procStartTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    if (fields[0] === 'Z') return undefined; // a zombie has already exited
    return fields[19];
  } catch {
    return undefined;
  }
}

/** Is this exact process (not a later one that reused its pid) still alive? */
export function isProcessAlive(pid: number | undefined, start: string | undefined): boolean {
  if (!pid) return false;
  const now = procStartTime(pid);
  return now !== undefined && (start === undefined || now === start);
}

/**
 * Exit promises of the monitors this process spawned (src/vm/spawn-monitor.ts): a wait for one of
 * them ends the moment it exits instead of at the next poll. Other processes are polled.
 */
const children = new Map<number, Promise<void>>();

export function trackChild(pid: number, exited: Promise<void>): void {
  children.set(pid, exited);
  void exited.then(() => children.delete(pid));
}

/** Resolves when `pid` exits if this process spawned it; otherwise never (race it with a poll). */
export function childExit(pid: number | undefined): Promise<void> {
  return (pid !== undefined && children.get(pid)) || new Promise<void>(() => undefined);
}

/** Wait until the process is gone; true if it went within the timeout. */
export async function waitProcessGone(pid: number | undefined, start: string | undefined, timeoutMs: number): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (isProcessAlive(pid, start)) {
    if (Date.now() > deadline) return false;
    const poll = new AbortController();
    await Promise.race([sleep(20, undefined, { signal: poll.signal }).catch(() => undefined), childExit(pid)]);
    poll.abort();
  }
  return true;
}

export function killQuietly(pid: number | undefined, signal: NodeJS.Signals | number = 'SIGKILL'): void {
  if (!pid) return;
  try {
    process.kill(pid, signal);
  } catch {
    // already gone
  }
}
