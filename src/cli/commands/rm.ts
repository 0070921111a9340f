import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { eachRef } from '../each.js';

export function register(program: Command): void {
  program
    .command('rm')
    .description('Remove containers (and everything they left: VM, sockets, disks, mounts)')
    .argument('<container...>', 'container names or IDs')
    .option('-f, --force', 'force the removal of a running container (kills it)')
    .option('-v, --volumes', 'also remove the anonymous volumes of the container')
    .action(async (refs: string[], flags: { force?: boolean; volumes?: boolean }, cmd: Command) => {
      const engine = await getEngine(cmd);
      await eachRef(refs, async (ref) => {
        await engine.remove(ref, { force: flags.force ?? false, volumes: flags.volumes ?? false });
        out(ref);
      });
    });
}
