import type { Command } from 'commander';
import { getEngine } from '../context.js';

/** `tag` and `image tag`. */
export function configureTag(cmd: Command): Command {
  return cmd
    .description('Create a tag TARGET_IMAGE that refers to SOURCE_IMAGE')
    .argument('<source>', 'image name, ID or digest')
    .argument('<target>', 'new name, e.g. myorg/tool:1 (the tag defaults to latest)')
    .action(async (source: string, target: string, _flags: unknown, cmd: Command) => {
      await (await getEngine(cmd)).tagImage(source, target);
    });
}

export function register(program: Command): void {
  configureTag(program.command('tag'));
}
