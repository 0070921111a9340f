/**
 * Unpacked rootfs directories (`rootfs/<chainhex>`, for runc) and erofs disks
 * (`disks/<chainhex>.erofs`, for the VM), each built once per chain ID: in a temp entry of the
 * store, renamed into place when complete, under a per-chain lock so concurrent processes build
 * it once and the others wait and reuse it.
 */
import { promises as fs } from 'node:fs';
import { Lock } from '../core/lock.js';
import { ImageError } from '../core/errors.js';
import type { BlobStore } from './blobs.js';
import { sha256Hex } from './digest.js';
import { diskUsage } from './disk-usage.js';
import { makeErofs, uuidFromHex } from './erofs.js';
import type { StoredImage } from './index-file.js';
import type { StoreLayout } from './store-layout.js';
import type { Unpacker } from './unpack.js';

/** Building a large rootfs under emulation can take a while; waiters give up after this. */
const BUILD_LOCK_TIMEOUT_MS = 60 * 60 * 1000;

export class RootfsCache {
  constructor(
    private readonly layout: StoreLayout,
    private readonly blobs: BlobStore,
    private readonly unpacker: Unpacker,
    private readonly onBuild?: (kind: 'rootfs' | 'disk', chainId: string) => void,
  ) {}

  async dir(image: StoredImage): Promise<string> {
    const hex = chainHex(image);
    const final = this.layout.rootfsDir(hex);
    if (await exists(final)) return final;
    await this.layout.prepare();
    return this.locked(`rootfs:${hex}`, async () => {
      if (await exists(final)) return final;
      this.onBuild?.('rootfs', image.chainId);
      const tmp = this.layout.tempPath('rootfs');
      const layers = image.layers.map((l, i) => ({ digest: l.digest, file: this.blobs.path(l.digest), diffId: image.diffIds[i] }));
      await this.unpacker.unpack(layers, tmp);
      try {
        await fs.rename(tmp, final);
      } catch (err) {
        await fs.rm(tmp, { recursive: true, force: true });
        throw err;
      }
      return final;
    });
  }

  async disk(image: StoredImage): Promise<string> {
    const hex = chainHex(image);
    const final = this.layout.diskFile(hex);
    if (await exists(final)) return final;
    await this.layout.prepare();
    return this.locked(`disk:${hex}`, async () => {
      if (await exists(final)) return final;
      const dir = await this.dir(image);
      this.onBuild?.('disk', image.chainId);
      const tmp = this.layout.tempPath('erofs');
      try {
        // the unpacked root directory's own time is when it was unpacked: fixed, so the same image gives the same disk on every host
        await fs.utimes(dir, 0, 0);
        await makeErofs(dir, tmp, { uuid: uuidFromHex(hex) });
        await fs.chmod(tmp, 0o600);
        await fs.rename(tmp, final);
      } finally {
        await fs.rm(tmp, { force: true });
      }
      return final;
    });
  }

  /**
   * Adopt a rootfs unpacked elsewhere in the store (by `load`) as the chain's rootfs, unless one
   * is there already; `dir` is consumed either way. Dropped again if no image has the chain.
   */
  async install(chainId: string, dir: string, needed: () => Promise<boolean>): Promise<void> {
    const hex = sha256Hex(chainId);
    if (hex === undefined) return;
    await this.locked(`rootfs:${hex}`, async () => {
      const final = this.layout.rootfsDir(hex);
      if ((await exists(final)) || !(await needed())) await fs.rm(dir, { recursive: true, force: true });
      else await fs.rename(dir, final);
    });
  }

  /**
   * Delete the rootfs and disk of a chain (waiting for a build in progress to finish first),
   * unless `keep` says, under each lock, that the chain is needed after all. Says whether
   * anything was removed, and how many bytes that freed.
   */
  async remove(chainId: string, keep?: () => Promise<boolean>): Promise<{ removed: boolean; bytes: number }> {
    const hex = sha256Hex(chainId);
    if (hex === undefined) return { removed: false, bytes: 0 };
    let freed = 0;
    let removed = false;
    await this.locked(`disk:${hex}`, async () => {
      const disk = this.layout.diskFile(hex);
      if (!(await exists(disk)) || (await keep?.())) return;
      freed += await diskUsage(disk);
      await fs.rm(disk, { force: true });
      removed = true;
    });
    await this.locked(`rootfs:${hex}`, async () => {
      const dir = this.layout.rootfsDir(hex);
      if (!(await exists(dir)) || (await keep?.())) return;
      const doomed = this.layout.tempPath('removed');
      await fs.rename(dir, doomed);
      freed += await diskUsage(doomed);
      await fs.rm(doomed, { recursive: true, force: true });
      removed = true;
    });
    return { removed, bytes: freed };
  }

  /** Chain IDs that have a rootfs directory or a disk in the store. */
  async chains(): Promise<string[]> {
    const names = [...(await fs.readdir(this.layout.rootfs).catch(() => [] as string[])), ...(await fs.readdir(this.layout.disks).catch(() => [] as string[])).map((n) => n.replace(/\.erofs$/, ''))];
    return [...new Set(names.filter((n) => /^[a-f0-9]{64}$/.test(n)))].map((hex) => `sha256:${hex}`);
  }

  private async locked<T>(name: string, fn: () => Promise<T>): Promise<T> {
    const lock = await Lock.acquire(this.layout.lockScope, name, BUILD_LOCK_TIMEOUT_MS);
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }
}

function chainHex(image: StoredImage): string {
  const hex = sha256Hex(image.chainId);
  if (hex === undefined) throw new ImageError(`image ${image.id}: bad chain ID \`${image.chainId}\``, 'IMAGE_STORE_CORRUPT');
  return hex;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.lstat(p);
    return true;
  } catch {
    return false;
  }
}
