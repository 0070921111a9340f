import { bool, parseFlags } from '../argv.js';
import { checkId } from '../argv.js';
import type { RuntimeContext } from '../context.js';
import { delegate } from '../delegate.js';
import { ConflictError, InvalidArgumentError } from '../../core/errors.js';
import { ctrlRequest } from '../ctrl-client.js';
import { parseSignal } from '../signals.js';
import { liveStatus, RuntimeStore } from '../state-store.js';
import { haltVm } from '../vm-sandbox.js';
import { parseError } from '../waiter.js';

/** `kill [--all] ID [SIGNAL]` (default SIGTERM). In a VM, --all is the same: the guest ends everything with its main process. */
export async function kill(ctx: RuntimeContext, args: string[]): Promise<number> {
  const p = parseFlags(args, { all: { kind: 'bool', aliases: ['a'] } }, 'kill');
  if (p.positional.length < 1 || p.positional.length > 2) throw new InvalidArgumentError('kill: usage: nestbox-runtime kill [--all] ID [SIGNAL]');
  const id = checkId(p.positional[0]!);
  const store = new RuntimeStore(ctx.root);
  if (store.isRunc(id)) return delegate(ctx, 'kill', args);
  const sig = parseSignal(p.positional[1]);
  void bool(p, 'all');
  const rec = await store.read(id);
  const status = liveStatus(rec);
  if (status === 'stopped' || status === 'creating') throw new ConflictError(`cannot kill container ${id}: it is ${status === 'stopped' ? 'not running' : 'still being created'}`, 'NOT_RUNNING');
  const dir = store.dir(id);
  if (sig === 9 && status === 'paused') {
    // a frozen guest cannot take the signal: end the VM (the waiter dies by SIGKILL as the workload would)
    await haltVm(dir, rec.pid, rec.pidStart);
    return 0;
  }
  let reply: string;
  try {
    reply = await ctrlRequest(dir, `kill ${sig}`, 5000);
  } catch (err) {
    if (sig !== 9) throw err;
    ctx.log.warn(`kill ${id}: the waiter did not take SIGKILL (${(err as Error).message}); ending the VM`);
    await haltVm(dir, rec.pid, rec.pidStart);
    return 0;
  }
  const failed = parseError(reply);
  if (failed) throw new ConflictError(`cannot kill container ${id}: ${failed.message}`, 'NOT_RUNNING');
  return 0;
}
