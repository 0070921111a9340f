import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { eachRef } from '../each.js';

export function register(program: Command): void {
  program
    .command('unpause')
    .description('Unpause all processes within one or more containers')
    .argument('<container...>', 'container names or IDs')
    .action(async (refs: string[], _flags: unknown, cmd: Command) => {
      const engine = await getEngine(cmd);
      await eachRef(refs, async (ref) => {
        await engine.unpause(ref);
        out(ref);
      });
    });
}
