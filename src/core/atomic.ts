import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

/** A fresh hidden temp name next to `file` (same directory, so a rename replaces it atomically). */
export function tempPathNextTo(file: string): string {
  return path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

/**
 * Write a file so that readers see either the old or the new content, never a half-written one.
 * `sync: false` skips the fsync before the rename: for what need not survive a power loss (it is
 * still atomic for readers).
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o644, sync = true): Promise<void> {
  const tmp = tempPathNextTo(file);
  const fh = await fs.open(tmp, 'wx', mode);
  try {
    await fh.writeFile(data);
    if (sync) await fh.sync();
  } finally {
    await fh.close();
  }
  try {
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

export async function writeJsonAtomic(file: string, value: unknown, mode = 0o644, sync = true): Promise<void> {
  await writeFileAtomic(file, JSON.stringify(value, null, 2) + '\n', mode, sync);
}

/** Read and parse a JSON file; `undefined` when it does not exist. */
export async function readJson<T>(file: string): Promise<T | undefined> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
    throw err;
  }
  return JSON.parse(text) as T;
}
