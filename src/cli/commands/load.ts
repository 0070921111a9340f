import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { familiar } from '../../image/reference.js';

/** `load` and `image load`: the same flags and output. */
export function configureLoad(cmd: Command): Command {
  return cmd
    .description('Load images from a `docker save` tarball, an OCI archive or an OCI layout directory')
    .requiredOption('-i, --input <file>', 'tar archive or OCI layout directory to read')
    .option('-q, --quiet', 'suppress the load output')
    .action(async (flags: { input: string; quiet?: boolean }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const images = await engine.images.load(flags.input);
      if (flags.quiet) return;
      for (const image of images) {
        if (image.loadedTags.length === 0) out(`Loaded image ID: ${image.id}`);
        for (const tag of image.loadedTags) out(`Loaded image: ${familiar(tag)}`);
      }
    });
}

export function register(program: Command): void {
  configureLoad(program.command('load'));
}
