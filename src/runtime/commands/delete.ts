import { bool, oneId, parseFlags } from '../argv.js';
import type { RuntimeContext } from '../context.js';
import { delegate } from '../delegate.js';
import { ConflictError } from '../../core/errors.js';
import { liveStatus, RuntimeStore } from '../state-store.js';
import { haltVm } from '../vm-sandbox.js';

/** `delete [--force] ID`: a running or paused container only with --force (which ends its VM). */
export async function remove(ctx: RuntimeContext, args: string[]): Promise<number> {
  const p = parseFlags(args, { force: { kind: 'bool', aliases: ['f'] } }, 'delete');
  const id = oneId(p, 'delete');
  const store = new RuntimeStore(ctx.root);
  if (store.isRunc(id)) return delegate(ctx, 'delete', args);
  await store.locked(id, async () => {
    const rec = await store.read(id);
    const status = liveStatus(rec);
    if ((status === 'running' || status === 'paused') && !bool(p, 'force')) {
      throw new ConflictError(`cannot delete container ${id}: it is ${status}; stop it first (kill ID KILL) or use delete --force`, 'CONTAINER_RUNNING');
    }
    await haltVm(store.dir(id), rec.pid, rec.pidStart);
    await store.remove(id);
  });
  return 0;
}
