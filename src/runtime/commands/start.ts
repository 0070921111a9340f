import { oneId, parseFlags } from '../argv.js';
import type { RuntimeContext } from '../context.js';
import { delegate } from '../delegate.js';
import { BackendError, CommandError, ConflictError } from '../../core/errors.js';
import { ctrlRequest } from '../ctrl-client.js';
import { liveStatus, RuntimeStore } from '../state-store.js';
import { parseError } from '../waiter.js';

/** `start ID`: run the process `create` prepared; returns once it runs in the guest. */
export async function start(ctx: RuntimeContext, args: string[]): Promise<number> {
  const id = oneId(parseFlags(args, {}, 'start'), 'start');
  const store = new RuntimeStore(ctx.root);
  if (store.isRunc(id)) return delegate(ctx, 'start', args);
  await store.locked(id, async () => {
    const rec = await store.read(id);
    const status = liveStatus(rec);
    if (status !== 'created') throw new ConflictError(`cannot start container ${id}: it is ${status}, not created${status === 'running' || status === 'paused' ? ' (it was already started)' : ''}`, 'NOT_CREATED');
    const reply = await ctrlRequest(store.dir(id), 'start', 60_000);
    const failed = parseError(reply);
    if (failed) {
      // the waiter exits with the same code; the state follows it
      await store.write({ ...rec, status: 'running' });
      throw failed.code === 126 || failed.code === 127 ? new CommandError(failed.code, failed.message) : new BackendError(`start ${id}: ${failed.message}`, 'START_FAILED');
    }
    if (!reply.startsWith('started ')) throw new BackendError(`start ${id}: unexpected answer "${reply}" from the waiter`, 'START_FAILED');
    await store.write({ ...rec, status: 'running' });
  });
  return 0;
}
