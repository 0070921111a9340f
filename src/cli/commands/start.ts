import type { Command } from 'commander';
import { promises as fs } from 'node:fs';
import { sandboxFiles } from '../../vm/sandbox-files.js';
import { getEngine, out } from '../context.js';
import { attachAndWait } from '../attach.js';

export function register(program: Command): void {
  program
    .command('start')
    .description('Start one or more stopped containers')
    .argument('<container...>', 'container names or IDs')
    .option('-a, --attach', "attach stdout/stderr and forward signals; exit with the container's code")
    .option('-i, --interactive', "attach the container's STDIN")
    .action(async (refs: string[], flags: { attach?: boolean; interactive?: boolean }, cmd: Command) => {
      const engine = await getEngine(cmd);
      if (flags.attach || flags.interactive) {
        const c = await engine.inspect(refs[0]!);
        const stdin = (flags.interactive ?? false) && c.config.openStdin;
        // What a restarted container logged before is not replayed; what it logs from now on is,
        // even output written before we got to follow the log (a fast process may be done by then).
        const fromOffset = await fs.stat(sandboxFiles(c.dir).log).then((st) => st.size, () => 0);
        const started = await engine.start(refs[0]!, { keepChannel: stdin });
        process.exitCode = await attachAndWait(engine, started.container, started.channel, { stdin, tty: c.config.process.tty, fromOffset });
        return;
      }
      let failed = false;
      for (const ref of refs) {
        try {
          await engine.start(ref);
          out(ref);
        } catch (err) {
          failed = true;
          process.stderr.write(`Error response from daemon: ${(err as Error).message}\n`);
        }
      }
      if (failed) process.exitCode = 125;
    });
}
