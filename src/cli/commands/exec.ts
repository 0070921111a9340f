import type { Command } from 'commander';
import { collect, getEngine } from '../context.js';
import { CommandError } from '../../core/errors.js';
import { fromHostEnv, mergeEnv } from '../../core/create-spec.js';

export function register(program: Command): void {
  program
    .command('exec')
    .description('Run a command in a running container (inside its VM, without a new VM)')
    .argument('<container>', 'container name or ID')
    .argument('<command...>', 'command and arguments')
    .option('-i, --interactive', 'keep STDIN open')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('-e, --env <KEY=VALUE>', 'set environment variables', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user name or uid')
    .passThroughOptions()
    .action(async (ref: string, command: string[], flags: { interactive?: boolean; tty?: boolean; env: string[]; workdir?: string; user?: string }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const c = await engine.inspect(ref);
      // engine.exec refuses a container that is not running, or paused, with its own message
      const tty = flags.tty ?? false;
      const stdin = flags.interactive ?? false;
      if (tty && stdin && process.stdin.isTTY) process.stdin.setRawMode(true);
      try {
        const user = flags.user ?? c.config.process.user;
        const result = await engine.exec(c, {
          args: command,
          env: mergeEnv(c.config.process.env, fromHostEnv(flags.env)),
          cwd: flags.workdir ?? c.config.process.cwd,
          ...(user ? { user } : {}),
          tty,
          stdin,
          ...(tty && process.stdout.isTTY ? { rows: process.stdout.rows, cols: process.stdout.columns } : {}),
        }, {
          ...(stdin ? { stdin: process.stdin } : {}),
          onOutput: (stream, data) => (stream === 'stderr' ? process.stderr : process.stdout).write(data),
          onResizer: (resize) => process.stdout.on('resize', () => resize(process.stdout.rows, process.stdout.columns)),
        });
        if (result.error && (result.exitCode === 126 || result.exitCode === 127)) throw new CommandError(result.exitCode, result.error);
        if (result.error) process.stderr.write(`nestbox: ${result.error}\n`);
        process.exitCode = result.exitCode;
      } finally {
        if (tty && stdin && process.stdin.isTTY) process.stdin.setRawMode(false);
        process.stdin.pause();
      }
    });
}
