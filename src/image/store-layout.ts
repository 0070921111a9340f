/**
 * Directories of an image store. Everything that can hold a rootfs (rootfs/, disks/, tmp/) and
 * the store root itself are mode 0700, so setuid files and device nodes in them are unreachable
 * for other users. Temp entries are named `<pid>-<random>-<kind>` so stale ones can be swept.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';

export class StoreLayout {
  readonly blobs: string;
  readonly rootfs: string;
  readonly disks: string;
  readonly tmp: string;
  /**
   * Blobs a pull fetched and verified but has not committed yet (`<hex>`), and partial ones it
   * resumes (`<hex>.partial`); each is used under the lock `blob:<digest>` of `lockScope`.
   */
  readonly downloads: string;
  /** Scope of this store's inter-process locks. */
  readonly lockScope: string;
  private ready: Promise<void> | undefined;

  constructor(readonly root: string) {
    this.blobs = path.join(root, 'blobs', 'sha256');
    this.rootfs = path.join(root, 'rootfs');
    this.disks = path.join(root, 'disks');
    this.tmp = path.join(root, 'tmp');
    this.downloads = path.join(root, 'downloads', 'sha256');
    this.lockScope = `nestbox-image-store:${path.resolve(root)}`;
  }

  /** Create the directories (once per instance) and sweep temp entries of dead processes. */
  prepare(): Promise<void> {
    this.ready ??= (async () => {
      await fs.mkdir(this.root, { recursive: true, mode: 0o700 });
      await fs.chmod(this.root, 0o700);
      for (const dir of [path.dirname(this.blobs), this.blobs, this.rootfs, this.disks, this.tmp, path.dirname(this.downloads), this.downloads]) {
        await fs.mkdir(dir, { recursive: true, mode: 0o700 });
        await fs.chmod(dir, 0o700);
      }
      await this.sweepTemp();
    })().catch((err) => {
      this.ready = undefined;
      throw err;
    });
    return this.ready;
  }

  /** A fresh temp path (not created) in tmp/, on the store's file system. */
  tempPath(kind: string): string {
    return path.join(this.tmp, `${process.pid}-${randomBytes(6).toString('hex')}-${kind}`);
  }

  /** A fresh private temp directory in tmp/. */
  async makeTempDir(kind: string): Promise<string> {
    const dir = this.tempPath(kind);
    await fs.mkdir(dir, { mode: 0o700 });
    return dir;
  }

  rootfsDir(chainHex: string): string {
    return path.join(this.rootfs, chainHex);
  }

  diskFile(chainHex: string): string {
    return path.join(this.disks, `${chainHex}.erofs`);
  }

  /** Remove temp entries left by processes that no longer exist (killed mid-load or mid-build). */
  private async sweepTemp(): Promise<void> {
    for (const name of await fs.readdir(this.tmp)) {
      const pid = Number(name.split('-')[0]);
      if (!Number.isInteger(pid) || pid <= 0 || isAlive(pid)) continue;
      await fs.rm(path.join(this.tmp, name), { recursive: true, force: true });
    }
  }
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}
