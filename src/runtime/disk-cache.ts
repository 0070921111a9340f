import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { tempPathNextTo } from '../core/atomic.js';
import { Lock } from '../core/lock.js';
import { makeErofs, uuidFromHex } from '../image/erofs.js';
import { rootfsKey } from './rootfs-key.js';

/**
 * The read-only root disk for a bundle's rootfs: an erofs image of it, kept by content under
 * `<data>/disks/<key>.erofs` and built once (under a lock) for every container with the same
 * files. The VM templates are keyed by the same content key.
 */
export async function cachedRootDisk(data: string, rootfs: string): Promise<{ disk: string; key: string }> {
  const key = await rootfsKey(rootfs);
  const dir = path.join(data, 'disks');
  const disk = path.join(dir, `${key.slice(0, 32)}.erofs`);
  if (existsSync(disk)) return { disk, key };
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const lock = await Lock.acquire(data, `disk-${key}`, 10 * 60_000);
  try {
    if (existsSync(disk)) return { disk, key };
    const tmp = tempPathNextTo(disk);
    try {
      await makeErofs(rootfs, tmp, { uuid: uuidFromHex(key) });
      await fs.chmod(tmp, 0o444);
      await fs.rename(tmp, disk);
    } finally {
      await fs.rm(tmp, { force: true });
    }
  } finally {
    await lock.release();
  }
  return { disk, key };
}
