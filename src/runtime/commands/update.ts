import { checkId, parseFlags } from '../argv.js';
import type { RuntimeContext } from '../context.js';
import { delegate } from '../delegate.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { RuntimeStore } from '../state-store.js';

/**
 * `update [--resources F | flags] ID` (containerd's CRI calls it when a pod's resources change).
 * A VM's size is fixed when it starts: accepted, and the log says it was not applied.
 */
export async function update(ctx: RuntimeContext, args: string[]): Promise<number> {
  const value = { kind: 'string' } as const;
  const p = parseFlags(
    args,
    {
      resources: { ...value, aliases: ['r'] },
      'blkio-weight': value, 'cpu-period': value, 'cpu-quota': value, 'cpu-share': value, 'cpu-rt-period': value,
      'cpu-rt-runtime': value, 'cpuset-cpus': value, 'cpuset-mems': value, 'kernel-memory': value, 'kernel-memory-tcp': value,
      memory: value, 'memory-reservation': value, 'memory-swap': value, 'pids-limit': value, 'l3-cache-schema': value, 'mem-bw-schema': value,
    },
    'update',
  );
  if (p.positional.length !== 1) throw new InvalidArgumentError('update: usage: nestbox-runtime update [flags] ID');
  const id = checkId(p.positional[0]!);
  const store = new RuntimeStore(ctx.root);
  if (store.isRunc(id)) return delegate(ctx, 'update', args);
  await store.read(id);
  ctx.log.warn(`update ${id}: a VM's memory and CPUs are set when it starts; the new resources are not applied`);
  return 0;
}
