import { constants } from 'node:os';
import { InvalidArgumentError } from './errors.js';

const SIGNALS = constants.signals as Record<string, number>;

/** `TERM`, `SIGTERM`, `15` → 15. Unknown names are an error that says what is accepted. */
export function parseSignal(value: string | number): number {
  if (typeof value === 'number') return checkRange(value, String(value));
  const v = value.trim().toUpperCase();
  if (/^\d+$/.test(v)) return checkRange(Number(v), value);
  const name = v.startsWith('SIG') ? v : `SIG${v}`;
  const n = SIGNALS[name];
  if (n === undefined) throw new InvalidArgumentError(`invalid signal "${value}": use a name like TERM, KILL, HUP, INT or a number 1-64`);
  return n;
}

function checkRange(n: number, raw: string): number {
  if (!Number.isInteger(n) || n < 1 || n > 64) throw new InvalidArgumentError(`invalid signal "${raw}": signal numbers are 1-64`);
  return n;
}

export function signalName(n: number): string {
  return Object.entries(SIGNALS).find(([, v]) => v === n)?.[0] ?? `SIG${n}`;
}
