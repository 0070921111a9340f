import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CommandError } from '../core/errors.js';

const DEFAULT_PATH = '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';
const MAX_LINKS = 40;

/**
 * runc looks the command up when the container is created, and callers rely on that: podman turns
 * ``exec: "x": executable file not found in $PATH`` from `create` into exit code 127. The rootfs is
 * on the host, so look it up there as the guest would (symlinks resolved inside the rootfs, never
 * out of it). A command that exists but cannot run is left to the guest (126 at start).
 */
export async function checkCommand(rootfs: string, arg0: string, env: string[], cwd: string): Promise<void> {
  if (arg0.includes('/')) {
    const p = arg0.startsWith('/') ? arg0 : path.posix.join(cwd, arg0);
    if (!(await resolveIn(rootfs, p))) throw new CommandError(127, `exec: "${arg0}": stat ${arg0}: no such file or directory`);
    return;
  }
  const pathVar = env.filter((e) => e.startsWith('PATH=')).at(-1)?.slice(5) ?? DEFAULT_PATH;
  for (const dir of pathVar.split(':')) {
    if (!dir.startsWith('/')) continue;
    const st = await resolveIn(rootfs, path.posix.join(dir, arg0));
    if (st?.isFile() && st.mode & 0o111) return;
  }
  throw new CommandError(127, `exec: "${arg0}": executable file not found in $PATH`);
}

/** stat of `p` inside `rootfs`, following symlinks as if rootfs were `/`; undefined when absent. */
async function resolveIn(rootfs: string, p: string): Promise<import('node:fs').Stats | undefined> {
  let parts = p.split('/').filter(Boolean);
  let cur: string[] = [];
  let links = 0;
  while (parts.length) {
    const name = parts.shift()!;
    if (name === '.') continue;
    if (name === '..') {
      cur.pop();
      continue;
    }
    const host = path.join(rootfs, ...cur, name);
    const st = await fs.lstat(host).catch(() => undefined);
    if (!st) return undefined;
    if (st.isSymbolicLink()) {
      if (++links > MAX_LINKS) return undefined;
      const target = await fs.readlink(host);
      parts = [...target.split('/').filter(Boolean), ...parts];
      if (target.startsWith('/')) cur = [];
      continue;
    }
    cur = [...cur, name];
    if (parts.length && !st.isDirectory()) return undefined;
    if (!parts.length) return st;
  }
  return fs.stat(path.join(rootfs, ...cur)).catch(() => undefined);
}
