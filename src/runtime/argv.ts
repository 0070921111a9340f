import { InvalidArgumentError } from '../core/errors.js';

/** A flag of a runtime command: boolean, or taking a value (repeatable ones collect a list). */
export interface FlagSpec {
  kind: 'bool' | 'string' | 'list';
  /** Other spellings, e.g. `b` for `--bundle`. */
  aliases?: readonly string[];
}

export interface Parsed {
  flags: Map<string, string | boolean | string[]>;
  positional: string[];
}

/**
 * Parses flags as runc's CLI library (urfave/cli) does, because callers pass them that way:
 * `--flag value`, `--flag=value`, `-flag value`, `-f value`; booleans also as `--flag=true|false`.
 * Flags stop at the first positional argument (so `exec ID sh -c …` keeps the command's own
 * flags) or at `--`.
 */
export function parseFlags(args: string[], specs: Record<string, FlagSpec>, what: string): Parsed {
  const byName = new Map<string, [string, FlagSpec]>();
  for (const [name, spec] of Object.entries(specs)) {
    byName.set(name, [name, spec]);
    for (const a of spec.aliases ?? []) byName.set(a, [name, spec]);
  }
  const flags = new Map<string, string | boolean | string[]>();
  let i = 0;
  for (; i < args.length; i++) {
    const arg = args[i]!;
    if (arg === '--') {
      i++;
      break;
    }
    if (!arg.startsWith('-') || arg === '-') break;
    const body = arg.replace(/^--?/, '');
    const eq = body.indexOf('=');
    const key = eq < 0 ? body : body.slice(0, eq);
    const found = byName.get(key);
    if (!found) throw new InvalidArgumentError(`${what}: unknown flag ${arg.split('=')[0]}`);
    const [name, spec] = found;
    if (spec.kind === 'bool') {
      const v = eq < 0 ? 'true' : body.slice(eq + 1);
      if (v !== 'true' && v !== 'false') throw new InvalidArgumentError(`${what}: flag --${name} takes true or false, not "${v}"`);
      flags.set(name, v === 'true');
      continue;
    }
    let value: string;
    if (eq >= 0) value = body.slice(eq + 1);
    else {
      if (i + 1 >= args.length) throw new InvalidArgumentError(`${what}: flag --${name} needs a value`);
      value = args[++i]!;
    }
    if (spec.kind === 'list') flags.set(name, [...((flags.get(name) as string[] | undefined) ?? []), value]);
    else flags.set(name, value);
  }
  return { flags, positional: args.slice(i) };
}

export const str = (p: Parsed, name: string): string | undefined => {
  const v = p.flags.get(name);
  return typeof v === 'string' ? v : undefined;
};
export const bool = (p: Parsed, name: string): boolean => p.flags.get(name) === true;
export const list = (p: Parsed, name: string): string[] => {
  const v = p.flags.get(name);
  return Array.isArray(v) ? v : [];
};

/** Exactly the container ID as the one positional argument (runc's `ID` commands). */
export function oneId(p: Parsed, command: string): string {
  if (p.positional.length !== 1) {
    throw new InvalidArgumentError(`${command}: expected exactly one container ID, got ${p.positional.length ? p.positional.map((a) => `"${a}"`).join(' ') : 'none'} (usage: nestbox-runtime ${command} ID)`);
  }
  return checkId(p.positional[0]!);
}

/** Container IDs become directory names: refuse anything that could escape or confuse. */
export function checkId(id: string): string {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.+-]{0,1023}$/.test(id)) {
    throw new InvalidArgumentError(`invalid container ID "${id}": use letters, digits, and _ . + - (not starting with a symbol)`);
  }
  return id;
}
