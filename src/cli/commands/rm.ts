import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { eachRef } from '../each.js';

export function register(program: Command): void {
  program
    .command('rm')
    .description('Remove containers (and everything they left: VM, sockets, disks, mounts)')
    .argument('<container...>', 'container names or IDs')
    .option('-f, --force', 'force the removal of a running container (kills it)')
    .action(async (refs: string[], flags: { force?: boolean }, cmd: Command) => {
      const engine = await getEngine(cmd);
      await eachRef(refs, async (ref) => {
        await engine.remove(ref, { force: flags.force ?? false });
        out(ref);
      });
    });
}
