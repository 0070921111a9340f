import { oneId, parseFlags } from '../argv.js';
import type { RuntimeContext } from '../context.js';
import { delegate } from '../delegate.js';
import { writeStdout } from '../log.js';
import { ociState } from '../oci-state.js';
import { RuntimeStore } from '../state-store.js';

/** `state ID`: runtime-spec state JSON on stdout. */
export async function state(ctx: RuntimeContext, args: string[]): Promise<number> {
  const id = oneId(parseFlags(args, {}, 'state'), 'state');
  const store = new RuntimeStore(ctx.root);
  if (store.isRunc(id)) return delegate(ctx, 'state', args);
  writeStdout(`${JSON.stringify(ociState(await store.read(id)), null, 2)}\n`);
  return 0;
}
