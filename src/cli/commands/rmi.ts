import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { familiar } from '../../image/reference.js';
import { eachRef } from '../each.js';

/** `rmi` and `image rm`: the same flags and output. */
export function configureRemove(cmd: Command): Command {
  return cmd
    .description('Remove images (refused while a container uses them, unless --force)')
    .argument('<image...>', 'image names or IDs')
    .option('-f, --force', 'force removal of the image')
    .action(async (refs: string[], flags: { force?: boolean }, cmd: Command) => {
      const engine = await getEngine(cmd);
      await eachRef(refs, async (ref) => {
        const r = await engine.removeImage(ref, flags.force ?? false);
        for (const t of r.untagged) out(`Untagged: ${familiar(t)}`);
        for (const d of r.deleted) out(`Deleted: ${d}`);
      });
    });
}

export function register(program: Command): void {
  configureRemove(program.command('rmi'));
}
