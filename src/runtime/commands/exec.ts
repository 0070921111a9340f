import { promises as fs } from 'node:fs';
import { bool, checkId, list, parseFlags, str } from '../argv.js';
import type { RuntimeContext } from '../context.js';
import { delegate, preserveFdsCount } from '../delegate.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { BundleError } from '../errors.js';
import type { OciProcess } from '../oci-config.js';
import { RuntimeStore } from '../state-store.js';

const FLAGS = {
  'console-socket': { kind: 'string' },
  'pidfd-socket': { kind: 'string' },
  cwd: { kind: 'string' },
  env: { kind: 'list', aliases: ['e'] },
  tty: { kind: 'bool', aliases: ['t'] },
  user: { kind: 'string', aliases: ['u'] },
  'additional-gids': { kind: 'list', aliases: ['g'] },
  process: { kind: 'string', aliases: ['p'] },
  detach: { kind: 'bool', aliases: ['d'] },
  'pid-file': { kind: 'string' },
  'process-label': { kind: 'string' },
  apparmor: { kind: 'string' },
  'no-new-privs': { kind: 'bool' },
  cap: { kind: 'list', aliases: ['c'] },
  'preserve-fds': { kind: 'string' },
  cgroup: { kind: 'list' },
  'ignore-paused': { kind: 'bool' },
} as const;

/** `exec [--process F | CMD…] [--detach] [--pid-file F] [--console-socket S] [--tty] ID` */
export async function exec(ctx: RuntimeContext, args: string[]): Promise<number> {
  const p = parseFlags(args, FLAGS, 'exec');
  if (p.positional.length < 1) throw new InvalidArgumentError('exec: usage: nestbox-runtime exec [flags] ID [COMMAND ARG…] (or --process FILE)');
  const id = checkId(p.positional[0]!);
  const store = new RuntimeStore(ctx.root);
  if (store.isRunc(id)) return delegate(ctx, 'exec', args, preserveFdsCount(str(p, 'preserve-fds')));
  const processFile = str(p, 'process');
  let proc: OciProcess;
  if (processFile) {
    try {
      proc = JSON.parse(await fs.readFile(processFile, 'utf8')) as OciProcess;
    } catch (err) {
      throw new BundleError(`exec: process file \`${processFile}\`: ${(err as Error).message}`);
    }
  } else {
    const user = str(p, 'user');
    const [uid, gid] = (user ?? '0:0').split(':');
    if (!/^\d+$/.test(uid ?? '') || (gid !== undefined && !/^\d+$/.test(gid))) throw new InvalidArgumentError(`exec: --user "${user}": use UID[:GID] (numbers)`);
    proc = {
      args: p.positional.slice(1),
      env: list(p, 'env'),
      cwd: str(p, 'cwd') ?? '/',
      terminal: bool(p, 'tty'),
      user: { uid: Number(uid), gid: Number(gid ?? 0) },
    };
  }
  const pidFile = str(p, 'pid-file');
  const consoleSocket = str(p, 'console-socket');
  const { execVm } = await import('../vm-exec.js');
  return execVm(ctx, store, id, proc, {
    detach: bool(p, 'detach'),
    ...(pidFile ? { pidFile } : {}),
    ...(consoleSocket ? { consoleSocket } : {}),
  });
}
