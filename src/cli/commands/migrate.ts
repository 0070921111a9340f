import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { migrate } from '../../core/migrate.js';

/** `migrate CONTAINER --to HOST:PORT`: move a running VM container to another `nestbox serve` (docs/checkpoints.md). */
export function register(program: Command): void {
  program
    .command('migrate')
    .description('Move a running VM container (memory, processes, writable layer) to the nestbox serve at HOST:PORT; prints its ID there')
    .argument('<container>', 'container name or ID')
    .requiredOption('--to <host:port>', 'destination: a `nestbox serve -H tcp://HOST:PORT`')
    .action(async (ref: string, flags: { to: string }, cmd: Command) => {
      const r = await migrate(await getEngine(cmd), ref, flags.to);
      const phases = Object.entries(r.phases).map(([k, v]) => `${k.replace(/Ms$/, '')} ${v}`).join(', ');
      process.stderr.write(`nestbox: migrated in ${r.totalMs} ms, downtime ${r.downtimeMs} ms (${phases}; ${(r.bytes / 1024 ** 2).toFixed(1)} MiB sent)\n`);
      out(r.id);
    });
}
