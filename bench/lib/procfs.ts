import { readdirSync, readFileSync, readlinkSync } from 'node:fs';

/** Fields of /proc/<pid>/smaps_rollup in KiB (Rss, Pss, Pss_Anon, Pss_File, …). */
export function smapsRollup(pid: number): Record<string, number> {
  const text = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
  const out: Record<string, number> = {};
  for (const line of text.split('\n')) {
    const m = /^(\w+):\s+(\d+) kB/.exec(line);
    if (m) out[m[1]!] = Number(m[2]);
  }
  return out;
}

/** CPU time (user + system) of `pid` in seconds, or NaN once it is gone. */
export function cpuSeconds(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / CLK_TCK;
  } catch {
    return NaN;
  }
}
/** USER_HZ: 100 on Linux x86. */
const CLK_TCK = 100;

export function pids(): number[] {
  return readdirSync('/proc').filter((p) => /^\d+$/.test(p)).map(Number);
}

export function ppidOf(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
  } catch {
    return undefined;
  }
}

export function commOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/comm`, 'utf8').trim();
  } catch {
    return '?';
  }
}

export function cmdlineOf(pid: number): string {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').replace(/\0/g, ' ').trim();
  } catch {
    return '';
  }
}

function link(pid: number, name: string): string {
  try {
    return readlinkSync(`/proc/${pid}/${name}`);
  } catch {
    return '';
  }
}

/** `pid` and all its descendants. */
export function processTree(root: number): number[] {
  const children = new Map<number, number[]>();
  for (const p of pids()) {
    const pp = ppidOf(p);
    if (pp === undefined) continue;
    children.set(pp, [...(children.get(pp) ?? []), p]);
  }
  const out: number[] = [];
  const todo = [root];
  while (todo.length) {
    const p = todo.pop()!;
    out.push(p);
    todo.push(...(children.get(p) ?? []));
  }
  return out;
}

/**
 * Processes that belong to the benchmark: their command line, working directory or root
 * directory lies under `prefix` (our temp dir). Other sessions' processes never match.
 */
export function processesUnder(prefix: string): { pid: number; cmd: string }[] {
  const out: { pid: number; cmd: string }[] = [];
  for (const p of pids()) {
    if (p === process.pid) continue;
    const cmd = cmdlineOf(p);
    if (cmd.includes(prefix) || link(p, 'cwd').startsWith(prefix) || link(p, 'root').startsWith(prefix)) {
      out.push({ pid: p, cmd: cmd || `[${commOf(p)}]` });
    }
  }
  return out;
}

/** QEMU processes on the machine that are not ours (other users' guests: noise). */
export function foreignQemuCount(prefix: string): number {
  const ours = new Set(processesUnder(prefix).map((p) => p.pid));
  return pids().filter((p) => !ours.has(p) && commOf(p).startsWith('qemu-system')).length;
}

/** Mount points under `prefix`, deepest first. */
export function mountsUnder(prefix: string): string[] {
  const text = readFileSync('/proc/self/mountinfo', 'utf8');
  return text
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((m) => m === prefix || m.startsWith(prefix + '/'))
    .sort((a, b) => b.length - a.length);
}
