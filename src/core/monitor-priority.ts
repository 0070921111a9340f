import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';

/** Nice value of a warm-pool sandbox's monitor while it fills: the host's CPU goes to containers in use first. */
export const FILL_NICE = 19;

/**
 * Whether this process may lower a monitor's priority for a while: only when it can raise it back
 * (root), or a container would keep running at the fill's priority.
 */
export const canRenice = (): boolean => process.getuid?.() === 0;

/**
 * Set the nice value of every thread of process `pid` (Linux applies it per thread: QEMU's vCPU
 * threads would keep theirs otherwise). Best effort: a thread may come or go meanwhile.
 */
export function setMonitorNice(pid: number, nice: number): void {
  let tids: string[];
  try {
    tids = readdirSync(`/proc/${pid}/task`);
  } catch {
    return;
  }
  for (const tid of tids) {
    try {
      setPriority(Number(tid), nice);
    } catch {
      // gone, or not ours
    }
  }
}
