import { oneId, parseFlags } from '../argv.js';
import type { RuntimeContext } from '../context.js';
import { delegate } from '../delegate.js';
import { ConflictError } from '../../core/errors.js';
import { QmpClient } from '../../vm/qemu/qmp.js';
import { liveStatus, RuntimeStore } from '../state-store.js';

/** `pause ID`: freeze every vCPU of the container's VM (QMP stop); memory stays. */
export function pause(ctx: RuntimeContext, args: string[]): Promise<number> {
  return transition(ctx, args, 'pause', 'running', 'paused', 'stop');
}

/** `resume ID`: let a paused VM run again (QMP cont). */
export function resume(ctx: RuntimeContext, args: string[]): Promise<number> {
  return transition(ctx, args, 'resume', 'paused', 'running', 'cont');
}

async function transition(ctx: RuntimeContext, args: string[], name: string, from: 'running' | 'paused', to: 'running' | 'paused', qmpCommand: string): Promise<number> {
  const id = oneId(parseFlags(args, {}, name), name);
  const store = new RuntimeStore(ctx.root);
  if (store.isRunc(id)) return delegate(ctx, name, args);
  await store.locked(id, async () => {
    const rec = await store.read(id);
    const status = liveStatus(rec);
    if (status !== from) throw new ConflictError(`cannot ${name} container ${id}: it is ${status}, not ${from}`, from === 'running' ? 'NOT_RUNNING' : 'NOT_PAUSED');
    const qmp = await QmpClient.connect(store.dir(id), 'qmp.sock', 5000);
    try {
      await qmp.execute(qmpCommand);
    } finally {
      qmp.close();
    }
    await store.write({ ...rec, status: to });
  });
  return 0;
}
