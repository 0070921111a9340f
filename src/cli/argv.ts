/** Undo bin/nestbox's escaping of `--env-file` (Node 20 would otherwise take it as its own flag). */
const ESCAPED = '--nestbox-escaped-';

export function restoreArgv(argv: string[]): string[] {
  return argv.map((a) => (a.startsWith(`${ESCAPED}env-file`) ? `--${a.slice(ESCAPED.length)}` : a));
}
