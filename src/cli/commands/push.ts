import type { Command } from 'commander';
import { collect, getEngine, out } from '../context.js';
import { familiar } from '../../image/reference.js';
import { insecureFromEnv } from '../../registry/endpoint.js';
import { LayerProgress } from '../progress.js';

export function register(program: Command): void {
  program
    .command('push')
    .description('Upload an image to the registry its name points at (tag it first: nestbox tag IMAGE HOST/NAME:TAG)')
    .argument('<image>', 'NAME[:TAG]')
    .option('-q, --quiet', 'suppress progress output')
    .option('--insecure-registry <host>', 'allow plain HTTP to this registry (loopback registries always are); repeatable', collect, [])
    .action(async (image: string, flags: { quiet?: boolean; insecureRegistry: string[] }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const progress = new LayerProgress(process.stdout, flags.quiet);
      const result = await engine.images.push(image, {
        insecureRegistries: [...insecureFromEnv(), ...flags.insecureRegistry],
        onEvent: (e) => {
          if (e.kind === 'start') progress.message(`The push refers to repository [${familiar(e.ref).replace(/:[^:/]*$/, '')}]`);
          else if (e.kind === 'layer') progress.layer(e.id, e.status, e.current, e.total);
          else {
            progress.flush();
            if (!flags.quiet) out(`${e.tag}: digest: ${e.digest} size: ${e.size}`);
          }
        },
      });
      if (flags.quiet) out(`${familiar(result.ref)}@${result.digest}`);
    });
}
