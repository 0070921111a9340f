import * as path from 'node:path';
import { InvalidArgumentError } from '../core/errors.js';
import { bool, parseFlags, str, type FlagSpec, type Parsed } from './argv.js';
import { RuntimeLog } from './log.js';

export const DEFAULT_RUNTIME_ROOT = '/run/nestbox-runtime';

/** Global flags, as runc takes them (callers pass the same set to every runtime). */
export const GLOBAL_FLAGS: Record<string, FlagSpec> = {
  root: { kind: 'string' },
  log: { kind: 'string' },
  'log-format': { kind: 'string' },
  debug: { kind: 'bool' },
  'systemd-cgroup': { kind: 'bool' },
  criu: { kind: 'string' },
  rootless: { kind: 'string' },
  isolation: { kind: 'string' },
  version: { kind: 'bool', aliases: ['v'] },
  help: { kind: 'bool', aliases: ['h'] },
};

export type IsolationChoice = 'vm' | 'process';

/** What every command gets: where state lives, where errors go, what to pass on to runc. */
export interface RuntimeContext {
  root: string;
  log: RuntimeLog;
  logFile?: string;
  logFormat: 'text' | 'json';
  debug: boolean;
  systemdCgroup: boolean;
  /** `--isolation` or NESTBOX_RUNTIME_ISOLATION: the default for containers whose bundle does not choose. */
  isolation?: IsolationChoice;
}

export function contextFrom(p: Parsed): RuntimeContext {
  const format = str(p, 'log-format') ?? 'text';
  const logFile = str(p, 'log');
  const debug = bool(p, 'debug');
  // report a bad --log-format in the format the caller can read at all
  const log = new RuntimeLog(logFile, format === 'json' ? 'json' : 'text', debug);
  if (format !== 'text' && format !== 'json') throw new InvalidArgumentError(`invalid --log-format "${format}": use text or json`);
  const iso = str(p, 'isolation') ?? process.env.NESTBOX_RUNTIME_ISOLATION;
  if (iso !== undefined && iso !== 'vm' && iso !== 'process') throw new InvalidArgumentError(`invalid isolation "${iso}": use vm or process`);
  return {
    root: path.resolve(str(p, 'root') ?? process.env.NESTBOX_RUNTIME_ROOT ?? DEFAULT_RUNTIME_ROOT),
    log,
    ...(logFile ? { logFile: path.resolve(logFile) } : {}),
    logFormat: format,
    debug,
    systemdCgroup: bool(p, 'systemd-cgroup'),
    ...(iso ? { isolation: iso } : {}),
  };
}

export function parseGlobal(argv: string[]): Parsed {
  return parseFlags(argv, GLOBAL_FLAGS, 'nestbox-runtime');
}
