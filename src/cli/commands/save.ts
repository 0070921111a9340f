import type { Command } from 'commander';
import { getEngine } from '../context.js';
import { SAVE_FORMATS, type SaveFormat } from '../../image/save.js';
import { InvalidArgumentError } from '../../core/errors.js';

/** `save` and `image save`: the same flags and output. */
export function configureSave(cmd: Command): Command {
  return cmd
    .description('Save images to a tar archive (streamed to stdout unless -o is given)')
    .argument('<image...>', 'image names or IDs; a name without a tag saves every tag of that repository')
    .option('-o, --output <file>', 'write to a file (atomically) instead of stdout; "-" is stdout')
    .option('--format <format>', `${SAVE_FORMATS.join(' or ')}`, 'docker-archive')
    .action(async (refs: string[], flags: { output?: string; format: string }, cmd: Command) => {
      if (!(SAVE_FORMATS as readonly string[]).includes(flags.format)) throw new InvalidArgumentError(`invalid --format "${flags.format}": use ${SAVE_FORMATS.join(' or ')}`);
      const toStdout = flags.output === undefined || flags.output === '-';
      if (toStdout && process.stdout.isTTY) throw new InvalidArgumentError('cowardly refusing to save to a terminal: use the -o flag or redirect stdout');
      const engine = await getEngine(cmd);
      // Ctrl-C: stop writing and remove the temp file instead of leaving it behind
      const abort = new AbortController();
      const onSignal = () => abort.abort();
      process.once('SIGINT', onSignal).once('SIGTERM', onSignal);
      try {
        await engine.saveImages(refs, toStdout ? process.stdout : flags.output!, { format: flags.format as SaveFormat, signal: abort.signal });
      } catch (err) {
        if (!abort.signal.aborted) throw err;
        process.exitCode = 130;
      } finally {
        process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
      }
    });
}

export function register(program: Command): void {
  configureSave(program.command('save'));
}
