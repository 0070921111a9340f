import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { humanDuration, quoteCommand, statusText, table } from '../format.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { shortId } from '../../core/container.js';
import { familiarImage } from '../../core/inspect.js';

export function register(program: Command): void {
  program
    .command('ps')
    .description('List containers')
    .option('-a, --all', 'show all containers (default shows just running)')
    .option('-q, --quiet', 'only display container IDs')
    .option('--no-trunc', "don't truncate output")
    .option('--format <format>', "'table' (default) or 'json' (one JSON object per line, as docker)")
    .action(async (flags: { all?: boolean; quiet?: boolean; trunc: boolean; format?: string }, cmd: Command) => {
      const engine = await getEngine(cmd);
      if (flags.format && flags.format !== 'table' && flags.format !== 'json') throw new InvalidArgumentError(`invalid --format "${flags.format}": use table or json`);
      const list = await engine.list({ all: flags.all ?? false });
      const id = (full: string) => (flags.trunc ? shortId(full) : full);
      if (flags.quiet) return list.forEach((c) => out(id(c.config.id)));
      if (flags.format === 'json') {
        for (const c of list) {
          out(JSON.stringify({
            ID: id(c.config.id),
            Image: familiarImage(c.config.image),
            Command: quoteCommand(c.config.process.args),
            CreatedAt: c.config.created,
            Status: statusText(c),
            State: c.state.status,
            Names: c.config.name,
            Isolation: c.config.isolation,
            ExitCode: c.state.exitCode ?? null,
          }));
        }
        return;
      }
      out(table(
        ['CONTAINER ID', 'IMAGE', 'COMMAND', 'CREATED', 'STATUS', 'ISOLATION', 'NAMES'],
        list.map((c) => [id(c.config.id), familiarImage(c.config.image), quoteCommand(c.config.process.args), `${humanDuration(Date.now() - Date.parse(c.config.created))} ago`, statusText(c), c.config.isolation, c.config.name]),
      ));
    });
}
