import { Command, CommanderError } from 'commander';
import { COMMANDS } from './commands.js';
import { exitCodeOf, InvalidArgumentError, NestboxError } from '../core/errors.js';
import { VERSION } from '../core/version.js';
import { DEFAULT_ROOT } from '../core/paths.js';

export async function main(argv: string[]): Promise<void> {
  const program = new Command('nestbox')
    .description('Run OCI containers, each in its own lightweight VM (or plain runc namespaces with --isolation=process)')
    .version(`nestbox version ${VERSION}`, '-v, --version', 'print the version and exit')
    .option('--root <dir>', `state directory (env NESTBOX_ROOT, default ${DEFAULT_ROOT})`)
    .option('--accel <kvm|tcg>', 'force the VM accelerator (env NESTBOX_ACCEL; default: KVM when it can boot a normal guest, else TCG)')
    .hook('preAction', (cmd) => {
      const accel = (cmd.opts() as { accel?: string }).accel;
      if (accel === undefined) return;
      if (accel !== 'kvm' && accel !== 'tcg') throw new InvalidArgumentError(`invalid --accel "${accel}": use kvm or tcg`);
      process.env.NESTBOX_ACCEL = accel;
    })
    .enablePositionalOptions()
    .showHelpAfterError(false)
    .exitOverride();
  for (const c of COMMANDS) c.register(program);
  for (const sub of program.commands) sub.exitOverride();
  try {
    await program.parseAsync(argv, { from: 'user' });
  } catch (err) {
    if (err instanceof CommanderError) {
      if (err.exitCode === 0) return; // --help, --version
      process.stderr.write(`See 'nestbox --help'.\n`);
      process.exitCode = 125;
      return;
    }
    const message = err instanceof NestboxError ? err.message : (err as Error)?.stack ?? String(err);
    process.stderr.write(`nestbox: ${message}\n`);
    process.exitCode = exitCodeOf(err);
  }
}
