import type { Container } from '../core/container.js';

/** "3 seconds", "About a minute", "2 hours" — Docker's HumanDuration. */
export function humanDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  if (s < 1) return 'Less than a second';
  if (s === 1) return '1 second';
  if (s < 60) return `${s} seconds`;
  const m = Math.round(s / 60);
  if (m === 1) return 'About a minute';
  if (m < 60) return `${m} minutes`;
  const h = Math.round(s / 3600);
  if (h === 1) return 'About an hour';
  if (h < 48) return `${h} hours`;
  return `${Math.round(h / 24)} days`;
}

export function statusText(c: Container, now = Date.now()): string {
  const st = c.state;
  if (st.status === 'running') return `Up ${humanDuration(now - Date.parse(st.startedAt ?? c.config.created))}`;
  if (st.status === 'paused') return `Up ${humanDuration(now - Date.parse(st.startedAt ?? c.config.created))} (Paused)`;
  if (st.status === 'exited') return `Exited (${st.exitCode ?? 0}) ${humanDuration(now - Date.parse(st.finishedAt ?? c.config.created))} ago`;
  if (st.status === 'removing') return 'Removal In Progress';
  return 'Created';
}

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
