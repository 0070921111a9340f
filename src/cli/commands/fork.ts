import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { fork } from '../../core/fork.js';

/** `fork CONTAINER [--count N] [--name-prefix P]`: running copies sharing memory copy-on-write (docs/checkpoints.md). */
export function register(program: Command): void {
  program
    .command('fork')
    .description('Make running copies of a running VM container (memory shared copy-on-write; each its own hostname, machine-id and writable layer)')
    .argument('<container>', 'container name or ID')
    .option('--count <n>', 'number of copies', '1')
    .option('--name-prefix <prefix>', 'copies are named PREFIX1, PREFIX2, … (default: NAME-fork-)')
    .action(async (ref: string, flags: { count: string; namePrefix?: string }, cmd: Command) => {
      const count = /^\d+$/.test(flags.count) ? Number(flags.count) : NaN;
      const r = await fork(await getEngine(cmd), ref, { count, ...(flags.namePrefix !== undefined ? { namePrefix: flags.namePrefix } : {}) });
      if (process.env.NESTBOX_DEBUG && process.env.NESTBOX_DEBUG !== '0') process.stderr.write(`nestbox: forked in ${r.totalMs} ms (source stopped for ${r.pausedMs} ms)\n`);
      for (const c of r.containers) out(c.config.id);
    });
}
