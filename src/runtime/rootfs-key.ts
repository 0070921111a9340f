import { createHash, type Hash } from 'node:crypto';
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';

/**
 * A digest of a rootfs directory's content: names, types, modes, owners, symlink targets, device
 * numbers and file bytes (not times: every container of an image gets its own copy of the same
 * files, with times of its own). Containers of one image get one key, so they share one disk and
 * one VM template.
 */
export async function rootfsKey(dir: string): Promise<string> {
  const h = createHash('sha256');
  await walk(dir, '', h);
  return h.digest('hex');
}

async function walk(root: string, rel: string, h: Hash): Promise<void> {
  const names = (await fs.readdir(path.join(root, rel))).sort();
  for (const name of names) {
    const r = rel ? `${rel}/${name}` : name;
    const full = path.join(root, r);
    const st = await fs.lstat(full);
    h.update(`${r}\0${st.mode}\0${st.uid}\0${st.gid}\0`);
    if (st.isDirectory()) {
      h.update('d\0');
      await walk(root, r, h);
    } else if (st.isSymbolicLink()) {
      h.update(`l\0${await fs.readlink(full)}\0`);
    } else if (st.isFile()) {
      h.update(`f\0${st.size}\0`);
      await new Promise<void>((resolve, reject) => {
        createReadStream(full)
          .on('data', (chunk) => h.update(chunk))
          .once('end', resolve)
          .once('error', reject);
      });
    } else {
      h.update(`s\0${st.rdev}\0`);
    }
  }
}
