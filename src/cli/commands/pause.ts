import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { eachRef } from '../each.js';

export function register(program: Command): void {
  program
    .command('pause')
    .description('Pause all processes within one or more containers (every guest CPU stops; memory is kept)')
    .argument('<container...>', 'container names or IDs')
    .action(async (refs: string[], _flags: unknown, cmd: Command) => {
      const engine = await getEngine(cmd);
      await eachRef(refs, async (ref) => {
        await engine.pause(ref);
        out(ref);
      });
    });
}
