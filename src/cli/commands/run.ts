import type { Command } from 'commander';
import { addCreateFlags, toCreateOptions } from '../run-flags.js';
import { getEngine, out } from '../context.js';
import { ensureImage } from '../pull-progress.js';
import { attachAndWait } from '../attach.js';

export function register(program: Command): void {
  addCreateFlags(
    program
      .command('run')
      .description('Create and run a new container from an image, in its own VM by default')
      .argument('<image>', 'image reference, e.g. busybox')
      .argument('[command...]', 'command and arguments (default: the image CMD)')
      .option('-d, --detach', 'run the container in the background and print its ID'),
  ).action(async (image: string, command: string[], flags, cmd: Command) => {
    const engine = await getEngine(cmd);
    const opts = await toCreateOptions(image, command, flags);
    await ensureImage(engine.images, image, { pull: flags.pull, platform: flags.platform });
    const created = await engine.create(opts);
    const attachStdin = !flags.detach && (opts.openStdin ?? false);
    const ttySize = opts.tty && process.stdout.isTTY ? { rows: process.stdout.rows, cols: process.stdout.columns } : undefined;
    let started;
    // Ctrl-C while the VM boots: stop the detached monitor we launched instead of orphaning it
    const interrupt = () => void engine.halt(created.config.id).catch(() => undefined);
    process.once('SIGINT', interrupt).once('SIGTERM', interrupt);
    try {
      started = await engine.start(created.config.id, { keepChannel: attachStdin, ...(ttySize ? { ttySize } : {}) });
    } catch (err) {
      if (opts.autoRemove) await engine.remove(created.config.id, { force: true }).catch(() => undefined);
      throw err;
    } finally {
      process.off('SIGINT', interrupt).off('SIGTERM', interrupt);
    }
    if (flags.detach) {
      out(created.config.id); // with --rm, the first nestbox command that sees it exited removes it
      return;
    }
    const code = await attachAndWait(engine, started.container, started.channel, { stdin: attachStdin, tty: opts.tty ?? false });
    if (opts.autoRemove) await engine.remove(created.config.id, { force: true }).catch(() => undefined);
    process.exitCode = code;
  });
}
