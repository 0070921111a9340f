import { bool, checkId, parseFlags, str } from '../argv.js';
import { loadBundle } from '../bundle.js';
import type { RuntimeContext } from '../context.js';
import { delegate, preserveFdsCount } from '../delegate.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { RuntimeStore } from '../state-store.js';
import { isolationOf } from '../isolation.js';

/** `create --bundle B --pid-file F [--console-socket S] [--no-pivot] [--no-new-keyring] [--preserve-fds N] ID` */
export async function create(ctx: RuntimeContext, args: string[]): Promise<number> {
  const p = parseFlags(
    args,
    {
      bundle: { kind: 'string', aliases: ['b'] },
      'pid-file': { kind: 'string' },
      'console-socket': { kind: 'string' },
      'no-pivot': { kind: 'bool' },
      'no-new-keyring': { kind: 'bool' },
      'preserve-fds': { kind: 'string' },
      'pidfd-socket': { kind: 'string' },
    },
    'create',
  );
  if (p.positional.length !== 1) throw new InvalidArgumentError(`create: expected exactly one container ID (usage: nestbox-runtime create --bundle B --pid-file F ID)`);
  const id = checkId(p.positional[0]!);
  const bundle = await loadBundle(str(p, 'bundle'));
  const store = new RuntimeStore(ctx.root);
  if (store.exists(id)) throw new InvalidArgumentError(`container "${id}" already exists (delete it first)`);
  if (isolationOf(ctx, bundle.annotations) === 'process') return delegate(ctx, 'create', args, preserveFdsCount(str(p, 'preserve-fds')));
  const preserve = preserveFdsCount(str(p, 'preserve-fds'));
  if (preserve > 0) ctx.log.warn(`--preserve-fds ${preserve}: host file descriptors cannot be passed into a VM; the container does not get them`);
  if (bool(p, 'no-pivot')) ctx.log.debug('--no-pivot: nothing to do, the VM has its own root');
  const { createVm } = await import('../vm-create.js');
  const pidFile = str(p, 'pid-file');
  const consoleSocket = str(p, 'console-socket');
  await createVm(ctx, id, bundle, { ...(pidFile ? { pidFile } : {}), ...(consoleSocket ? { consoleSocket } : {}) });
  return 0;
}
