import type { Command } from 'commander';
import { collect, getEngine, out } from '../context.js';
import { pullWithProgress } from '../pull-progress.js';

export function register(program: Command): void {
  program
    .command('pull')
    .description('Download an image from a registry (Docker Hub names are normalised: alpine → docker.io/library/alpine:latest)')
    .argument('<image>', 'NAME[:TAG|@DIGEST]')
    .option('--platform <os/arch[/variant]>', 'platform to pull from a multi-platform image (default: the host\'s)')
    .option('-q, --quiet', 'suppress progress output; print only the reference')
    .option('--insecure-registry <host>', 'allow plain HTTP to this registry (loopback registries always are); repeatable', collect, [])
    .action(async (image: string, flags: { platform?: string; quiet?: boolean; insecureRegistry: string[] }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const result = await pullWithProgress(engine.images, image, { ...flags, stream: process.stdout });
      out(result.ref);
    });
}
