import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { parseSignal } from '../../core/signals.js';
import { eachRef } from '../each.js';

export function register(program: Command): void {
  program
    .command('kill')
    .description("Send a signal to containers' main process")
    .argument('<container...>', 'container names or IDs')
    .option('-s, --signal <signal>', 'signal to send', 'KILL')
    .action(async (refs: string[], flags: { signal: string }, cmd: Command) => {
      const signal = parseSignal(flags.signal);
      const engine = await getEngine(cmd);
      await eachRef(refs, async (ref) => {
        await engine.kill(ref, signal);
        out(ref);
      });
    });
}
