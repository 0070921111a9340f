import { constants } from 'node:os';
import { InvalidArgumentError } from '../core/errors.js';

/** `KILL`, `SIGKILL`, `kill`, `9` → 9, as runc parses it; anything else is refused. */
export function parseSignal(value: string | undefined): number {
  if (value === undefined || value === '') return 15; // runc's default: SIGTERM
  if (/^\d+$/.test(value)) {
    const n = Number(value);
    if (n >= 1 && n <= 64) return n;
    throw new InvalidArgumentError(`invalid signal "${value}": signal numbers go from 1 to 64`);
  }
  const upper = value.toUpperCase();
  const name = (upper.startsWith('SIG') ? upper : `SIG${upper}`) as keyof typeof constants.signals;
  const rt = /^SIGRTMIN(?:\+(\d+))?$/.exec(name) ?? /^SIGRTMAX(?:-(\d+))?$/.exec(name);
  if (rt) {
    const n = name.startsWith('SIGRTMIN') ? 34 + Number(rt[1] ?? 0) : 64 - Number(rt[1] ?? 0);
    if (n >= 34 && n <= 64) return n;
  }
  const n = constants.signals[name];
  if (typeof n === 'number') return n;
  throw new InvalidArgumentError(`unknown signal "${value}": use a name such as TERM, KILL, HUP or a number from 1 to 64`);
}
