/**
 * File-system steps of unpacking that never follow a symlink on the host: every path component
 * below the rootfs is checked with lstat before anything is created under it.
 */
import { promises as fs, type Stats } from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { ancestorsOf } from './entry-path.js';

const run = promisify(execFile);

export async function lstatOrUndefined(file: string): Promise<Stats | undefined> {
  try {
    return await fs.lstat(file);
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT' || (err as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw err;
  }
}

export type WalkResult = { ok: true } | { ok: false; missing: string } | { ok: false; reason: string };

/**
 * Check that every ancestor of `rel` is a real directory (not a symlink, not a file). With
 * `create`, missing ancestors are made (mode 0755, owned by the unpacking user) and reported
 * through `onCreate`.
 */
export async function walkParents(root: string, rel: string, create: boolean, onCreate?: (rel: string) => void): Promise<WalkResult> {
  for (const dir of ancestorsOf(rel)) {
    const abs = path.join(root, dir);
    const st = await lstatOrUndefined(abs);
    if (st === undefined) {
      if (!create) return { ok: false, missing: dir };
      await fs.mkdir(abs, { mode: 0o755 });
      onCreate?.(dir);
      continue;
    }
    if (st.isSymbolicLink()) return { ok: false, reason: `goes through the symlink \`${dir}\`` };
    if (!st.isDirectory()) return { ok: false, reason: `goes through \`${dir}\`, which is not a directory` };
  }
  return { ok: true };
}

/** Remove a file, symlink or whole directory tree (symlinks are removed, never followed). */
export async function removeTree(abs: string): Promise<void> {
  await fs.rm(abs, { recursive: true, force: true });
}

/** Create a device node or fifo with `mknod` (Node has no mknod binding). */
export async function makeNode(abs: string, kind: 'c' | 'b' | 'p', mode: number, major: number, minor: number): Promise<void> {
  const args = ['-m', (mode & 0o7777).toString(8), '--', abs, kind];
  if (kind !== 'p') args.push(String(major), String(minor));
  await run('mknod', args);
}

export const isRoot = process.geteuid?.() === 0;

/** lchown, tolerated to fail only when we are not root (rootless unpacking keeps our own ids). */
export async function chownPath(abs: string, uid: number, gid: number): Promise<void> {
  try {
    await fs.lchown(abs, uid, gid);
  } catch (err) {
    if (isRoot) throw err;
  }
}

/** Whether a directory is private to its owner (no group/other bits): device nodes may go below it. */
export async function isPrivateDir(abs: string): Promise<boolean> {
  const st = await lstatOrUndefined(abs);
  return st !== undefined && st.isDirectory() && (st.mode & 0o077) === 0 && st.uid === (process.geteuid?.() ?? st.uid);
}
