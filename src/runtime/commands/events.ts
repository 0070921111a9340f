import { bool, checkId, parseFlags } from '../argv.js';
import type { RuntimeContext } from '../context.js';
import { delegate } from '../delegate.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { writeStdout } from '../log.js';
import { RuntimeStore } from '../state-store.js';

/**
 * `events --stats ID` (containerd's metrics): runc reports the container's cgroup counters. A VM
 * container has no cgroup of its own here, so its stats are empty; a stream of events (without
 * --stats) is not offered.
 */
export async function events(ctx: RuntimeContext, args: string[]): Promise<number> {
  const p = parseFlags(args, { stats: { kind: 'bool' }, interval: { kind: 'string' } }, 'events');
  if (p.positional.length !== 1) throw new InvalidArgumentError('events: usage: nestbox-runtime events --stats ID');
  const id = checkId(p.positional[0]!);
  const store = new RuntimeStore(ctx.root);
  if (store.isRunc(id)) return delegate(ctx, 'events', args);
  await store.read(id);
  if (!bool(p, 'stats')) throw new InvalidArgumentError(`events ${id}: only --stats is supported for VM containers`);
  writeStdout(`${JSON.stringify({ type: 'stats', id, data: {} })}\n`);
  return 0;
}
