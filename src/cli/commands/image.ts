import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { humanSize } from '../format.js';
import { configureImagesList } from './images.js';
import { configureLoad } from './load.js';
import { configureRemove } from './rmi.js';
import { configureSave } from './save.js';
import { configureTag } from './tag.js';
import { imageInspectDocument } from '../../image/inspect-document.js';
import { familiar } from '../../image/reference.js';
import { NotFoundError } from '../../core/errors.js';

/** `image ls|rm|load|save|tag|inspect|prune`: docker's management command group. */
export function register(program: Command): void {
  const image = program.command('image').description('Manage images');
  configureImagesList(image.command('ls').alias('list'));
  configureRemove(image.command('rm').alias('remove'));
  configureLoad(image.command('load'));
  configureSave(image.command('save'));
  configureTag(image.command('tag'));

  image
    .command('inspect')
    .description('Display detailed information on images (JSON)')
    .argument('<image...>', 'image names or IDs')
    .action(async (refs: string[], _flags: unknown, cmd: Command) => {
      const engine = await getEngine(cmd);
      const docs: unknown[] = [];
      for (const ref of refs) {
        try {
          docs.push(imageInspectDocument(await engine.images.resolve(ref)));
        } catch (err) {
          process.stderr.write(err instanceof NotFoundError ? `Error: No such image: ${ref}\n` : `Error: ${(err as Error).message}\n`);
          process.exitCode = 1;
        }
      }
      out(JSON.stringify(docs, null, 4));
    });

  image
    .command('prune')
    .description('Remove unused images (dangling ones unless -a), then blobs, rootfs caches and downloads nothing needs')
    .option('-a, --all', 'remove every image no container uses, not only dangling ones')
    .option('-f, --force', 'do not prompt for confirmation')
    .action(async (flags: { all?: boolean; force?: boolean }, cmd: Command) => {
      const warning = flags.all
        ? 'WARNING! This will remove all images without at least one container associated to them.'
        : 'WARNING! This will remove all dangling images.';
      if (!flags.force && !(await confirm(`${warning}\nAre you sure you want to continue? [y/N] `))) {
        process.stderr.write('image prune has been cancelled\n');
        return;
      }
      const r = await (await getEngine(cmd)).pruneImages(flags.all ?? false);
      const images = [
        ...r.untagged.map((t) => `untagged: ${familiar(t)}`),
        ...r.deleted.map((d) => `deleted: ${d}`),
        ...r.blobs.filter((b) => !r.deleted.includes(b)).map((b) => `deleted: ${b}`),
      ];
      section('Deleted Images:', images);
      section('Deleted rootfs caches:', r.caches);
      section('Deleted downloads:', r.downloads);
      out(`Total reclaimed space: ${humanSize(r.reclaimedBytes)}`);
    });
}

function section(title: string, lines: string[]): void {
  if (lines.length === 0) return;
  out(title);
  for (const l of lines) out(l);
  out('');
}

/** Ask on stdout, read one line of stdin; no answer (closed stdin) is no. */
async function confirm(question: string): Promise<boolean> {
  const readline = await import('node:readline'); // only when prompting
  const rl = readline.createInterface({ input: process.stdin, output: process.stdout });
  return new Promise<boolean>((resolve) => {
    let answered = false;
    rl.once('close', () => {
      if (!answered) process.stdout.write('\n'); // stdin ended: finish the prompt's line
      resolve(false);
    });
    rl.question(question, (answer) => {
      answered = true;
      resolve(/^y(es)?$/i.test(answer.trim()));
      rl.close();
    });
  });
}
