import { NestboxError } from '../core/errors.js';
import { contextFrom, parseGlobal, type RuntimeContext } from './context.js';
import { RuntimeLog, writeStderr, writeStdout } from './log.js';
import { versionText } from './version.js';

export type CommandFn = (ctx: RuntimeContext, args: string[]) => Promise<number>;

/** Command table; each loads its module only when called, so `state` or `kill` start fast. */
const COMMANDS: Record<string, () => Promise<CommandFn>> = {
  create: async () => (await import('./commands/create.js')).create,
  start: async () => (await import('./commands/start.js')).start,
  state: async () => (await import('./commands/state.js')).state,
  kill: async () => (await import('./commands/kill.js')).kill,
  delete: async () => (await import('./commands/delete.js')).remove,
  exec: async () => (await import('./commands/exec.js')).exec,
  pause: async () => (await import('./commands/pause.js')).pause,
  resume: async () => (await import('./commands/pause.js')).resume,
  ps: async () => (await import('./commands/ps.js')).ps,
  list: async () => (await import('./commands/list.js')).list,
  features: async () => (await import('./commands/features.js')).features,
  update: async () => (await import('./commands/update.js')).update,
  events: async () => (await import('./commands/events.js')).events,
};

const USAGE = `usage: nestbox-runtime [global flags] COMMAND [flags] ID

An OCI runtime (runtime-spec command line) that runs each container in its own QEMU microvm,
or under runc with io.nestbox.isolation=process.

global flags: --root DIR (default /run/nestbox-runtime)  --log FILE  --log-format text|json
              --systemd-cgroup  --debug  --isolation vm|process  --version
commands:     ${Object.keys(COMMANDS).join(' ')}
`;

export async function main(argv: string[]): Promise<number> {
  let log = new RuntimeLog(undefined);
  let logged = false;
  try {
    const g = parseGlobal(argv);
    const ctx = contextFrom(g);
    log = ctx.log;
    logged = ctx.logFile !== undefined;
    if (g.flags.get('version') === true) {
      writeStdout(versionText());
      return 0;
    }
    const [name, ...rest] = g.positional;
    if (!name || g.flags.get('help') === true || name === 'help') {
      writeStdout(USAGE);
      return name || g.flags.get('help') === true ? 0 : 1;
    }
    const load = COMMANDS[name];
    if (!load) throw new NestboxError('UNKNOWN_COMMAND', `unknown command "${name}" (commands: ${Object.keys(COMMANDS).join(', ')})`);
    return await (await load())(ctx, rest);
  } catch (err) {
    const msg = err instanceof NestboxError ? err.message : `internal error: ${(err as Error)?.stack ?? String(err)}`;
    // the log for the caller to surface, stderr for whoever reads it (runc writes both)
    if (logged) log.error(msg);
    writeStderr(`nestbox-runtime: ${msg}\n`);
    return 1;
  }
}
