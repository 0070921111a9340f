import { spawn } from 'node:child_process';
import { openSync, closeSync } from 'node:fs';
import { procStartTime, trackChild } from '../core/proc.js';
import { BackendError } from '../core/errors.js';
import type { Launched } from './backend.js';

/**
 * Spawn a sandbox monitor (QEMU or the shim) in its own session, stdio to `stderrFile`, so it
 * outlives the CLI that started it and is not hit by the terminal's SIGINT.
 */
export function spawnMonitor(command: string, args: string[], stderrFile: string, cwd: string, extraFds: number[] = []): Launched {
  const err = openSync(stderrFile, 'a', 0o600);
  try {
    // extraFds become the child's fds 3, 4, …
    const child = spawn(command, args, { cwd, detached: true, stdio: ['ignore', err, err, ...extraFds] });
    const exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', () => resolve());
    });
    if (child.pid === undefined) {
      throw new BackendError(`spawn \`${command}\`: could not start it (is it installed?)`, 'MONITOR_SPAWN');
    }
    child.unref();
    trackChild(child.pid, exited);
    return { pid: child.pid, pidStart: procStartTime(child.pid), exited };
  } finally {
    closeSync(err);
  }
}
