import type { Command } from 'commander';
import { addCreateFlags, toCreateOptions } from '../run-flags.js';
import { getEngine, out } from '../context.js';
import { ensureImage } from '../pull-progress.js';

export function register(program: Command): void {
  addCreateFlags(
    program
      .command('create')
      .description('Create a new container (not started)')
      .argument('<image>', 'image reference')
      .argument('[command...]', 'command and arguments'),
  ).action(async (image: string, command: string[], flags, cmd: Command) => {
    const engine = await getEngine(cmd);
    await ensureImage(engine.images, image, { pull: flags.pull, platform: flags.platform });
    const c = await engine.create(await toCreateOptions(image, command, flags));
    out(c.config.id);
  });
}
