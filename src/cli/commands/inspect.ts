import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { inspectDocument } from '../../core/inspect.js';
import { networkView } from '../../core/network-inspect.js';
import { imageInspectDocument } from '../../image/inspect-document.js';
import { NotFoundError } from '../../core/errors.js';

export function register(program: Command): void {
  program
    .command('inspect')
    .description('Return low-level information on containers or images (JSON)')
    .argument('<name...>', 'container or image names or IDs')
    .option('--type <type>', 'container or image')
    .action(async (refs: string[], flags: { type?: string }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const docs: unknown[] = [];
      let failed = false;
      for (const ref of refs) {
        try {
          if (flags.type !== 'image') {
            try {
              const c = await engine.inspect(ref);
              docs.push(inspectDocument(c, await networkView(engine.networks, c)));
              continue;
            } catch (err) {
              if (!(err instanceof NotFoundError) || flags.type === 'container') throw err;
            }
          }
          docs.push(imageInspectDocument(await engine.images.resolve(ref)));
        } catch (err) {
          failed = true;
          process.stderr.write(`Error: No such object: ${ref}\n`);
        }
      }
      out(JSON.stringify(docs, null, 4));
      if (failed) process.exitCode = 1;
    });
}
