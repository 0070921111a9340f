import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { readJson, writeJsonAtomic } from '../core/atomic.js';
import { ConflictError } from '../core/errors.js';
import { ContainerNotFoundError } from './errors.js';
import { dataDir } from './data-dir.js';
import { Lock } from '../core/lock.js';
import { isProcessAlive } from '../core/proc.js';

/** What nestbox-runtime records of a VM container (runtime-spec state is derived from it). */
export interface RuntimeRecord {
  id: string;
  bundle: string;
  rootfs: string;
  /** RFC 3339 */
  created: string;
  annotations: Record<string, string>;
  /** Stored status; a dead waiter overrides it with `stopped`. `creating` until create succeeded. */
  status: 'creating' | 'created' | 'running' | 'paused' | 'stopped';
  /** Host pid of the waiter (the pid in the pid file) and its /proc start time. */
  pid?: number;
  pidStart?: string;
  memoryMiB: number;
  cpus: number;
}

export type OciStatus = 'creating' | 'created' | 'running' | 'paused' | 'stopped';

/**
 * VM containers under `<root>/vm/<id>/` (the sandbox directory QEMU runs in, plus
 * `runtime.json`; a symlink into the data directory); runc keeps its own under `<root>/runc/`. Writes are atomic renames and
 * transitions happen under a per-container lock.
 */
export class RuntimeStore {
  readonly vmRoot: string;
  readonly runcRoot: string;

  constructor(readonly root: string) {
    this.vmRoot = path.join(root, 'vm');
    this.runcRoot = path.join(root, 'runc');
  }

  dir(id: string): string {
    return path.join(this.vmRoot, id);
  }

  private file(id: string): string {
    return path.join(this.dir(id), 'runtime.json');
  }

  /** Is `id` a container runc holds (process isolation)? */
  isRunc(id: string): boolean {
    return existsSync(path.join(this.runcRoot, id, 'state.json'));
  }

  exists(id: string): boolean {
    return existsSync(this.dir(id)) || this.isRunc(id);
  }

  /**
   * Claim the ID. The container's directory (disks, logs, sockets) lives in the data directory on
   * disk; `<root>/vm/<id>` is a symlink to it, made exclusively, so two creates cannot both win and
   * the root under /run (memory) holds no large file.
   */
  async claim(record: RuntimeRecord): Promise<string> {
    if (this.isRunc(record.id)) throw new ConflictError(`container "${record.id}" already exists`, 'ID_IN_USE');
    await fs.mkdir(this.vmRoot, { recursive: true, mode: 0o711 });
    await fs.mkdir(path.dirname(this.dataOf(record.id)), { recursive: true, mode: 0o711 });
    const target = await fs.mkdtemp(`${this.dataOf(record.id)}.`);
    await fs.chmod(target, 0o711);
    const dir = this.dir(record.id);
    try {
      await fs.symlink(target, dir);
    } catch (err) {
      await fs.rm(target, { recursive: true, force: true });
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ConflictError(`container "${record.id}" already exists`, 'ID_IN_USE');
      throw err;
    }
    await writeJsonAtomic(this.file(record.id), record, 0o600);
    return dir;
  }

  /** Prefix of the container's directory in the data directory (a unique suffix is added). */
  private dataOf(id: string): string {
    return path.join(dataDir(this.root), 'containers', id);
  }

  async read(id: string): Promise<RuntimeRecord> {
    let rec: RuntimeRecord | undefined;
    try {
      rec = await readJson<RuntimeRecord>(this.file(id));
    } catch (err) {
      throw new ContainerNotFoundError(id, `its state \`${this.file(id)}\` is unreadable: ${(err as Error).message}`);
    }
    if (!rec) throw new ContainerNotFoundError(id, `nothing under \`${this.root}\`; is --root the one it was created with?`);
    return rec;
  }

  async write(rec: RuntimeRecord): Promise<void> {
    await writeJsonAtomic(this.file(rec.id), rec, 0o600);
  }

  /** Run `fn` holding the container's lock (transitions of one container are serialised). */
  async locked<T>(id: string, fn: () => Promise<T>): Promise<T> {
    const lock = await Lock.acquire(this.root, `runtime-${id}`, 120_000);
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }

  async remove(id: string): Promise<void> {
    const dir = this.dir(id);
    const target = await fs.readlink(dir).catch(() => undefined);
    // only ever a directory under our data directory
    if (target && path.dirname(target) === path.dirname(this.dataOf(id)) && path.basename(target).startsWith(`${id}.`)) {
      await fs.rm(target, { recursive: true, force: true });
    }
    await fs.rm(dir, { recursive: true, force: true });
  }

  async ids(): Promise<string[]> {
    return (await fs.readdir(this.vmRoot).catch(() => [] as string[])).filter((n) => !n.startsWith('.'));
  }
}

/** The status a caller should see: a waiter that is gone means the container stopped. */
export function liveStatus(rec: RuntimeRecord): OciStatus {
  if (rec.status === 'creating' || rec.status === 'stopped') return rec.status;
  return isProcessAlive(rec.pid, rec.pidStart) ? rec.status : 'stopped';
}
