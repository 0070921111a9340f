import type { Container } from './container.js';

/** Docker's human-readable durations and statuses, shared by the CLI (`ps`) and the API. */

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
  if (h < 24 * 7 * 2) return `${Math.floor(h / 24)} days`;
  if (h < 24 * 30 * 2) return `${Math.floor(h / 24 / 7)} weeks`;
  if (h < 24 * 365 * 2) return `${Math.floor(h / 24 / 30)} months`;
  return `${Math.floor(h / 24 / 365)} years`;
}

export function statusText(c: Container, now = Date.now()): string {
  const st = c.state;
  if (st.status === 'running') return `Up ${humanDuration(now - Date.parse(st.startedAt ?? c.config.created))}`;
  if (st.status === 'paused') return `Up ${humanDuration(now - Date.parse(st.startedAt ?? c.config.created))} (Paused)`;
  if (st.status === 'exited') return `Exited (${st.exitCode ?? 0}) ${humanDuration(now - Date.parse(st.finishedAt ?? c.config.created))} ago`;
  if (st.status === 'removing') return 'Removal In Progress';
  return 'Created';
}
