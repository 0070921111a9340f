export { humanDuration, statusText } from '../core/status-text.js';

/** Left-aligned columns separated by 3 spaces, as docker prints tables. */
export function table(headers: string[], rows: string[][]): string {
  const widths = headers.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) => cells.map((c, i) => (i === cells.length - 1 ? c : c.padEnd(widths[i]! + 3))).join('').trimEnd();
  return [line(headers), ...rows.map(line)].join('\n');
}

export function quoteCommand(args: string[]): string {
  const s = args.map((a) => (/[\s"']/.test(a) ? JSON.stringify(a) : a)).join(' ');
  return JSON.stringify(s.length > 20 ? `${s.slice(0, 19)}…` : s);
}

export function humanSize(bytes: number): string {
  const units = ['B', 'kB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1000 && i < units.length - 1) {
    v /= 1000;
    i++;
  }
  return `${i === 0 ? v : v.toFixed(v < 10 ? 2 : v < 100 ? 1 : 0)}${units[i]}`;
}
