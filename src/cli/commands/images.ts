import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { humanDuration, humanSize, table } from '../format.js';
import { familiar } from '../../image/reference.js';
import { InvalidArgumentError } from '../../core/errors.js';

export function register(program: Command): void {
  program
    .command('images')
    .description('List images')
    .option('-q, --quiet', 'only show image IDs')
    .option('--no-trunc', "don't truncate output")
    .option('--digests', 'show digests')
    .option('--format <format>', "'table' (default) or 'json'")
    .action(async (flags: { quiet?: boolean; trunc: boolean; digests?: boolean; format?: string }, cmd: Command) => {
      if (flags.format && flags.format !== 'table' && flags.format !== 'json') throw new InvalidArgumentError(`invalid --format "${flags.format}": use table or json`);
      const engine = await getEngine(cmd);
      const list = await engine.images.list();
      const id = (full: string) => (flags.trunc ? full.replace(/^sha256:/, '').slice(0, 12) : full);
      if (flags.quiet) return list.forEach((i) => out(id(i.id)));
      const rows = list.flatMap((i) => {
        const tags = i.repoTags.length ? i.repoTags : ['<none>:<none>'];
        return tags.map((t) => {
          const name = familiar(t);
          const at = name.lastIndexOf(':');
          return { repo: at > 0 ? name.slice(0, at) : name, tag: at > 0 ? name.slice(at + 1) : '<none>', image: i };
        });
      });
      if (flags.format === 'json') {
        for (const r of rows) {
          out(JSON.stringify({ ID: id(r.image.id), Repository: r.repo, Tag: r.tag, Digest: r.image.manifestDigest, CreatedAt: r.image.created ?? '', Size: humanSize(r.image.size) }));
        }
        return;
      }
      const headers = ['REPOSITORY', 'TAG', ...(flags.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'];
      out(table(headers, rows.map((r) => [
        r.repo, r.tag, ...(flags.digests ? [r.image.manifestDigest] : []), id(r.image.id),
        r.image.created ? `${humanDuration(Date.now() - Date.parse(r.image.created))} ago` : 'N/A', humanSize(r.image.size),
      ])));
    });
}
