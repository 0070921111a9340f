import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { eachRef } from '../each.js';

export function register(program: Command): void {
  program
    .command('stop')
    .description('Stop running containers: SIGTERM, then SIGKILL after the grace period')
    .argument('<container...>', 'container names or IDs')
    .option('-t, --time <seconds>', 'seconds to wait before killing', '10')
    .action(async (refs: string[], flags: { time: string }, cmd: Command) => {
      const t = Number(flags.time);
      if (!Number.isFinite(t) || t < 0) throw new InvalidArgumentError(`invalid --time "${flags.time}": use a number of seconds`);
      const engine = await getEngine(cmd);
      await eachRef(refs, async (ref) => {
        await engine.stop(ref, t);
        out(ref);
      });
    });
}
