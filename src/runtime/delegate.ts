import { spawn } from 'node:child_process';
import { BackendError } from '../core/errors.js';
import type { RuntimeContext } from './context.js';
import { RuntimeStore } from './state-store.js';

export const RUNC_BINARY = process.env.NESTBOX_RUNC ?? 'runc';

/**
 * Process isolation: hand the command to runc with its root under ours and the caller's log
 * settings, so runc's own errors reach the caller the same way. runc's stdio is ours (the
 * container's stdio, console socket and pid file work unchanged), fds 3.. are passed on when the
 * caller preserved them, and we exit as runc did.
 */
export function delegate(ctx: RuntimeContext, command: string, args: string[], preserveFds = 0): Promise<number> {
  const store = new RuntimeStore(ctx.root);
  const globals = ['--root', store.runcRoot];
  if (ctx.logFile) globals.push('--log', ctx.logFile, '--log-format', ctx.logFormat);
  if (ctx.systemdCgroup) globals.push('--systemd-cgroup');
  if (ctx.debug) globals.push('--debug');
  const fds = [0, 1, 2];
  for (let i = 0; i < preserveFds; i++) fds.push(3 + i);
  return new Promise((resolve, reject) => {
    const child = spawn(RUNC_BINARY, [...globals, command, ...args], { stdio: fds });
    child.once('error', (err) => reject(new BackendError(`run \`${RUNC_BINARY}\`: ${err.message} (install runc, or set NESTBOX_RUNC)`, 'BACKEND_MISSING')));
    child.once('exit', (code, signal) => {
      if (signal) {
        // die the way runc did, so a caller waiting on us sees the same status
        process.kill(process.pid, signal);
      }
      resolve(code ?? 1);
    });
  });
}

/** Value of `--preserve-fds` as a count (0 when absent). */
export function preserveFdsCount(v: string | undefined): number {
  const n = v === undefined ? 0 : Number(v);
  return Number.isInteger(n) && n >= 0 && n < 1024 ? n : 0;
}
