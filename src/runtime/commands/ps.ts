import { checkId, parseFlags, str } from '../argv.js';
import type { RuntimeContext } from '../context.js';
import { delegate } from '../delegate.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { isProcessAlive } from '../../core/proc.js';
import { writeStdout } from '../log.js';
import { liveStatus, RuntimeStore } from '../state-store.js';
import { readQemuPid } from '../vm-files.js';

/**
 * `ps [--format table|json] ID`: the container's host processes. A VM container's processes live
 * in its guest; on the host it is the waiter and QEMU.
 */
export async function ps(ctx: RuntimeContext, args: string[]): Promise<number> {
  const p = parseFlags(args, { format: { kind: 'string', aliases: ['f'] } }, 'ps');
  if (p.positional.length < 1) throw new InvalidArgumentError('ps: usage: nestbox-runtime ps [--format table|json] ID');
  const id = checkId(p.positional[0]!);
  const store = new RuntimeStore(ctx.root);
  if (store.isRunc(id)) return delegate(ctx, 'ps', args);
  const format = str(p, 'format') ?? 'table';
  if (format !== 'table' && format !== 'json') throw new InvalidArgumentError(`ps: invalid --format "${format}": use table or json`);
  const rec = await store.read(id);
  const pids: number[] = [];
  if (liveStatus(rec) !== 'stopped' && rec.pid && isProcessAlive(rec.pid, rec.pidStart)) {
    pids.push(rec.pid);
    const qemu = readQemuPid(store.dir(id));
    if (qemu && isProcessAlive(qemu, undefined)) pids.push(qemu);
  }
  writeStdout(format === 'json' ? `${JSON.stringify(pids)}\n` : `PID\n${pids.map((n) => `${n}\n`).join('')}`);
  return 0;
}
