import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { eachRef } from '../each.js';

export function register(program: Command): void {
  program
    .command('wait')
    .description('Block until containers stop, then print their exit codes')
    .argument('<container...>', 'container names or IDs')
    .action(async (refs: string[], _flags: object, cmd: Command) => {
      const engine = await getEngine(cmd);
      await eachRef(refs, async (ref) => out(String(await engine.wait(ref))));
    });
}
