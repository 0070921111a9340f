/** Bytes a file or directory tree takes on disk (allocated blocks; hard links counted once). */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';

export async function diskUsage(p: string): Promise<number> {
  const seen = new Set<string>();
  const walk = async (at: string): Promise<number> => {
    const st = await fs.lstat(at).catch(() => undefined);
    if (st === undefined) return 0;
    const key = `${st.dev}:${st.ino}`;
    if (seen.has(key)) return 0;
    seen.add(key);
    let bytes = st.blocks * 512;
    if (st.isDirectory()) {
      for (const name of await fs.readdir(at).catch(() => [] as string[])) bytes += await walk(path.join(at, name));
    }
    return bytes;
  };
  return walk(p);
}
