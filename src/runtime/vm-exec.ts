import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../core/atomic.js';
import { BackendError, CommandError, ConflictError } from '../core/errors.js';
import { encode } from '../guest/messages.js';
import { checkProcess } from './bundle.js';
import type { RuntimeContext } from './context.js';
import { BundleError } from './errors.js';
import type { OciProcess } from './oci-config.js';
import { liveStatus, type RuntimeStore } from './state-store.js';
import { ctlLockKeys } from './vm-files.js';
import { parseError, spawnWaiter } from './waiter.js';

export interface ExecOptions {
  detach: boolean;
  pidFile?: string;
  consoleSocket?: string;
}

/**
 * An exec session in the container's VM, held by a waiter of its own (exec mode): its pid goes
 * into the pid file, it holds the caller's stdio and exits as the process does. With --detach we
 * return once the process runs; without, we wait and exit with its status.
 */
export async function execVm(ctx: RuntimeContext, store: RuntimeStore, id: string, p: OciProcess, opts: ExecOptions): Promise<number> {
  const rec = await store.read(id);
  const status = liveStatus(rec);
  if (status !== 'running') throw new ConflictError(`cannot exec in container ${id}: it is ${status}${status === 'paused' ? ' (resume it first)' : ''}`, 'NOT_RUNNING');
  const proc = checkProcess(p, `exec in ${id}`);
  if (proc.terminal && !opts.consoleSocket) throw new BundleError(`exec in ${id}: a terminal was asked for, so --console-socket is required`);
  const dir = store.dir(id);
  const requestFile = path.join(dir, `exec-${randomBytes(6).toString('hex')}.req`);
  await fs.writeFile(requestFile, encode.exec(1, { args: proc.args, env: proc.env, cwd: proc.cwd, user: proc.user, tty: proc.terminal, stdin: false }), { mode: 0o600 });
  const args = ['exec', '--dir', dir, '--locks', ctlLockKeys(dir).join(','), '--request', requestFile];
  if (opts.consoleSocket) args.push('--console-socket', opts.consoleSocket);
  let waiter;
  try {
    waiter = await spawnWaiter(args, dir, 60_000, !opts.detach);
  } finally {
    await fs.rm(requestFile, { force: true });
  }
  const failed = parseError(waiter.report);
  if (failed) {
    waiter.release();
    throw failed.code === 126 || failed.code === 127 ? new CommandError(failed.code, failed.message) : new BackendError(`exec in ${id}: ${failed.message}`, 'EXEC_FAILED');
  }
  if (!waiter.report.startsWith('started ')) throw new BackendError(`exec in ${id}: unexpected answer "${waiter.report}" from the waiter`, 'EXEC_FAILED');
  if (opts.pidFile) await writeFileAtomic(opts.pidFile, String(waiter.pid), 0o644);
  ctx.log.debug(`exec in ${id}: waiter pid ${waiter.pid}, guest ${waiter.report}`);
  if (opts.detach) {
    waiter.release();
    return 0;
  }
  const end = await waiter.exited;
  if (end.signal) process.kill(process.pid, end.signal);
  return end.code ?? 255;
}
