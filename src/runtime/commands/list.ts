import { parseFlags, str } from '../argv.js';
import type { RuntimeContext } from '../context.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { writeStdout } from '../log.js';
import { ociState } from '../oci-state.js';
import { RuntimeStore } from '../state-store.js';

/** `list [--format table|json] [-q]`: the VM containers under this root (runc's are listed by `runc --root ROOT/runc list`). */
export async function list(ctx: RuntimeContext, args: string[]): Promise<number> {
  const p = parseFlags(args, { format: { kind: 'string', aliases: ['f'] }, quiet: { kind: 'bool', aliases: ['q'] } }, 'list');
  const format = str(p, 'format') ?? 'table';
  if (format !== 'table' && format !== 'json') throw new InvalidArgumentError(`list: invalid --format "${format}": use table or json`);
  const store = new RuntimeStore(ctx.root);
  const states = [];
  for (const id of await store.ids()) {
    try {
      states.push(ociState(await store.read(id)));
    } catch {
      // removed meanwhile
    }
  }
  if (p.flags.get('quiet') === true) writeStdout(states.map((s) => `${s.id}\n`).join(''));
  else if (format === 'json') writeStdout(`${JSON.stringify(states)}\n`);
  else writeStdout(`ID\tPID\tSTATUS\tBUNDLE\tCREATED\n${states.map((s) => `${s.id}\t${s.pid}\t${s.status}\t${s.bundle}\t${s.created}\n`).join('')}`);
  return 0;
}
