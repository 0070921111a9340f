import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { humanDuration, humanSize, table } from '../format.js';
import { parseCpus, parseMemory } from '../../core/create-spec.js';
import { eachRef } from '../each.js';

/** `template ls|create|rm`: the VM templates sandboxes are restored from (docs/templates.md). */
export function register(program: Command): void {
  const template = program.command('template').description('Manage VM templates (booted guests that VM-isolated runs restore from)');

  template
    .command('ls')
    .alias('list')
    .description('List VM templates')
    .option('-q, --quiet', 'only display keys')
    .action(async (flags: { quiet?: boolean }, cmd: Command) => {
      const list = await (await getEngine(cmd)).listTemplates();
      if (flags.quiet) return list.forEach((t) => out(t.key));
      const rows = list.map((t) => [
        t.key,
        t.image,
        t.imageId.replace(/^sha256:/, '').slice(0, 12),
        `${t.memoryMiB}MiB`,
        String(t.cpus),
        t.accel,
        `${humanDuration(Date.now() - Date.parse(t.created))} ago`,
        humanSize(t.diskBytes),
      ]);
      out(table(['KEY', 'IMAGE', 'IMAGE ID', 'MEMORY', 'CPUS', 'ACCEL', 'CREATED', 'SIZE'], rows).trimEnd());
    });

  template
    .command('create')
    .description('Boot an image once and record it as a template (replacing the one for the same VM size)')
    .argument('<image>', 'image reference')
    .option('-m, --memory <bytes>', 'VM memory, e.g. 512m (default 256m)')
    .option('--cpus <n>', 'number of vCPUs (default 1)')
    .action(async (ref: string, flags: { memory?: string; cpus?: string }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const t = await engine.createTemplate(ref, {
        ...(flags.memory ? { memoryMiB: parseMemory(flags.memory) } : {}),
        ...(flags.cpus ? { cpus: parseCpus(flags.cpus) } : {}),
      });
      out(t.key);
    });

  template
    .command('rm')
    .alias('remove')
    .description('Remove templates by key, or every template of an image (running sandboxes are not affected)')
    .argument('<key-or-image...>', 'template keys (or unique prefixes) or image references')
    .action(async (refs: string[], _flags: unknown, cmd: Command) => {
      const engine = await getEngine(cmd);
      await eachRef(refs, async (ref) => {
        for (const key of await engine.removeTemplates(ref)) out(key);
      });
    });
}
