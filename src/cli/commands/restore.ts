import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { Checkpoints } from '../../core/checkpoints.js';

/** `restore NAME [--name NEW]`: a new container continuing a checkpoint (docs/checkpoints.md). */
export function register(program: Command): void {
  program
    .command('restore')
    .description('Start a new container from a checkpoint (a full one continues its processes; a disk-only one boots)')
    .argument('<checkpoint>', 'checkpoint name')
    .option('--name <name>', 'name of the new container')
    .action(async (name: string, flags: { name?: string }, cmd: Command) => {
      const r = await new Checkpoints(await getEngine(cmd)).restore(name, flags.name ? { name: flags.name } : {});
      if (process.env.NESTBOX_DEBUG && process.env.NESTBOX_DEBUG !== '0') process.stderr.write(`nestbox: restored in ${r.ms} ms ${JSON.stringify(r.phases)}\n`);
      out(r.container.config.id);
    });
}
