import type { Command } from 'commander';
import { collect, getEngine, out } from '../context.js';
import { humanDuration, humanSize, table } from '../format.js';
import { familiar } from '../../image/reference.js';
import { matchesImageFilter, parseImageFilter } from '../../image/list-filter.js';
import type { ImageRecord } from '../../image/types.js';
import { InvalidArgumentError } from '../../core/errors.js';

interface Flags {
  quiet?: boolean;
  trunc: boolean;
  digests?: boolean;
  filter?: string[];
  format?: string;
}

/** `images` and `image ls`: the same flags and output. */
export function configureImagesList(cmd: Command): Command {
  return cmd
    .description('List images')
    .argument('[reference]', 'only names matching this pattern, as --filter reference=PATTERN')
    .option('-q, --quiet', 'only show image IDs')
    .option('--no-trunc', "don't truncate output")
    .option('--digests', 'show digests')
    .option('-f, --filter <filter>', 'filter output: dangling=true|false, reference=PATTERN (repeatable)', collect)
    .option('--format <format>', "'table' (default) or 'json' (one JSON object per line, as docker)")
    .action(async (reference: string | undefined, flags: Flags, cmd: Command) => {
      if (flags.format && flags.format !== 'table' && flags.format !== 'json') throw new InvalidArgumentError(`invalid --format "${flags.format}": use table or json`);
      const filter = parseImageFilter([...(flags.filter ?? []), ...(reference !== undefined ? [`reference=${reference}`] : [])]);
      const engine = await getEngine(cmd);
      const list = await engine.images.list();
      const id = (full: string) => (flags.trunc ? full.replace(/^sha256:/, '').slice(0, 12) : full);
      const rows = list.flatMap((image) => {
        const tags: (string | undefined)[] = image.repoTags.length ? image.repoTags : [undefined];
        return tags.filter((t) => matchesImageFilter(filter, image, t)).map((t) => {
          const name = t === undefined ? '<none>:<none>' : familiar(t);
          const at = name.lastIndexOf(':');
          return { repo: name.slice(0, at), tag: name.slice(at + 1), image };
        });
      });
      if (flags.quiet) return [...new Set(rows.map((r) => id(r.image.id)))].forEach((i) => out(i));
      if (flags.format === 'json') {
        const users = await engine.imageUseCounts();
        for (const r of rows) out(JSON.stringify(jsonRow(r.repo, r.tag, r.image, id(r.image.id), users.get(r.image.id) ?? 0)));
        return;
      }
      const headers = ['REPOSITORY', 'TAG', ...(flags.digests ? ['DIGEST'] : []), 'IMAGE ID', 'CREATED', 'SIZE'];
      out(table(headers, rows.map((r) => [
        r.repo, r.tag, ...(flags.digests ? [r.image.manifestDigest] : []), id(r.image.id), createdSince(r.image), humanSize(r.image.size),
      ])));
    });
}

export function register(program: Command): void {
  configureImagesList(program.command('images'));
}

/** The fields (and string formatting) of `docker images --format json`. */
function jsonRow(repo: string, tag: string, image: ImageRecord, id: string, containers: number): Record<string, string> {
  return {
    Containers: String(containers),
    CreatedAt: image.created ? dockerTime(image.created) : 'N/A',
    CreatedSince: createdSince(image),
    Digest: image.manifestDigest,
    ID: id,
    Repository: repo,
    SharedSize: 'N/A',
    Size: humanSize(image.size),
    Tag: tag,
    UniqueSize: 'N/A',
    VirtualSize: humanSize(image.size),
  };
}

function createdSince(image: ImageRecord): string {
  return image.created ? `${humanDuration(Date.now() - Date.parse(image.created))} ago` : 'N/A';
}

/** `2024-01-01 00:00:00 +0000 UTC`, as docker prints times. */
function dockerTime(iso: string): string {
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : `${d.toISOString().slice(0, 19).replace('T', ' ')} +0000 UTC`;
}
