import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { humanDuration, humanSize, table } from '../format.js';
import { eachRef } from '../each.js';
import { Checkpoints } from '../../core/checkpoints.js';

/** `checkpoint create|ls|rm|export|import` (docs/checkpoints.md). */
export function register(program: Command): void {
  const checkpoint = program.command('checkpoint').description('Manage checkpoints of VM-isolated containers (memory, CPU, devices and writable layer)');

  checkpoint
    .command('create')
    .description('Save a container as a checkpoint (it is stopped afterwards unless --leave-running)')
    .argument('<container>', 'container name or ID')
    .argument('<name>', 'checkpoint name')
    .option('--leave-running', 'keep the container running after the checkpoint')
    .option('--disk-only', 'only the writable layer (restoring boots a fresh guest on it)')
    .action(async (ref: string, name: string, flags: { leaveRunning?: boolean; diskOnly?: boolean }, cmd: Command) => {
      const r = await new Checkpoints(await getEngine(cmd)).create(ref, name, flags);
      if (process.env.NESTBOX_DEBUG && process.env.NESTBOX_DEBUG !== '0') process.stderr.write(`nestbox: checkpoint ${name}: ${r.totalMs} ms${r.pausedMs !== undefined ? `, guest stopped ${r.pausedMs} ms` : ''} ${JSON.stringify(r.phases)}\n`);
      out(name);
    });

  checkpoint
    .command('ls')
    .alias('list')
    .description('List checkpoints (of one container, if given)')
    .argument('[container]', 'only checkpoints of this container (name or ID it had)')
    .option('-q, --quiet', 'only display names')
    .action(async (ref: string | undefined, flags: { quiet?: boolean }, cmd: Command) => {
      let list = await new Checkpoints(await getEngine(cmd)).list();
      if (ref) list = list.filter((m) => m.source.name === ref || m.source.id.startsWith(ref));
      if (flags.quiet) return list.forEach((m) => out(m.name));
      const rows = list.map((m) => [m.name, m.source.name, m.kind, m.image.ref, `${m.memoryMiB}MiB`, `${humanDuration(Date.now() - Date.parse(m.created))} ago`, humanSize(m.diskBytes)]);
      out(table(['NAME', 'CONTAINER', 'KIND', 'IMAGE', 'MEMORY', 'CREATED', 'SIZE'], rows).trimEnd());
    });

  checkpoint
    .command('rm')
    .alias('remove')
    .description('Remove checkpoints')
    .argument('<name...>', 'checkpoint names')
    .action(async (names: string[], _flags: unknown, cmd: Command) => {
      const cps = new Checkpoints(await getEngine(cmd));
      await eachRef(names, async (name) => {
        await cps.remove(name);
        out(name);
      });
    });

  checkpoint
    .command('export')
    .description('Write a checkpoint to a tar file (to copy it to another host)')
    .argument('<name>', 'checkpoint name')
    .requiredOption('-o, --output <file>', 'tar file to write')
    .action(async (name: string, flags: { output: string }, cmd: Command) => {
      await new Checkpoints(await getEngine(cmd)).exportTo(name, flags.output);
    });

  checkpoint
    .command('import')
    .description('Add a checkpoint from a tar file made by `checkpoint export` (every file is checked)')
    .argument('<file>', 'tar file')
    .option('--name <name>', 'store it under another name')
    .action(async (file: string, flags: { name?: string }, cmd: Command) => {
      out(await new Checkpoints(await getEngine(cmd)).importFrom(file, flags.name));
    });
}
