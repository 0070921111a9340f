/**
 * Named volumes: state that outlives containers. Each lives in `<root>/volumes/<name>/` with
 * `volume.json` (name, driver, options, labels, created) and its driver's data. A volume appears
 * whole or not at all: it is built in a temp directory and renamed into place. Removal refuses a
 * volume any container (running or not) still names, as docker does.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readJson, writeJsonAtomic } from './atomic.js';
import { ConflictError, InvalidArgumentError, NotFoundError } from './errors.js';
import { checkVolumeName } from './mount-spec.js';
import { driverNamed, type VolumeSource } from './volume-drivers.js';

export interface Volume {
  name: string;
  driver: string;
  created: string;
  labels: Record<string, string>;
  options: Record<string, string>;
  /** Created implicitly by `-v /path` (removed with its container by `rm -v` / `--rm`). */
  anonymous: boolean;
  /** Where the data is on the host: the image file or the directory. */
  mountpoint: string;
}

export interface VolumeCreateOptions {
  driver?: string;
  options?: Record<string, string>;
  labels?: Record<string, string>;
  anonymous?: boolean;
}

/** Which containers name a volume; the engine answers from its container store. */
export type VolumeUsers = (name: string) => Promise<string[]>;

export class VolumeStore {
  readonly dir: string;

  constructor(root: string) {
    this.dir = path.join(root, 'volumes');
  }

  /** Create, or return the existing volume of that name (docker's `volume create` is idempotent). */
  async create(name: string, opts: VolumeCreateOptions = {}): Promise<Volume> {
    checkVolumeName(name);
    const driver = driverNamed(opts.driver ?? 'local');
    for (const k of Object.keys(opts.options ?? {})) {
      if (!driver.options.includes(k)) throw new InvalidArgumentError(`volume driver ${driver.name} has no option "${k}"${driver.options.length ? ` (it takes ${driver.options.join(', ')})` : ''}`);
    }
    const existing = await this.find(name);
    if (existing) {
      if (opts.driver !== undefined && existing.driver !== driver.name) throw new ConflictError(`volume ${name} exists with driver ${existing.driver}, not ${driver.name}`, 'VOLUME_EXISTS');
      return existing;
    }
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const tmp = path.join(this.dir, `.tmp-${process.pid}-${randomBytes(6).toString('hex')}`);
    await fs.mkdir(tmp, { mode: 0o700 });
    try {
      await driver.create(tmp, opts.options ?? {});
      const meta = { name, driver: driver.name, created: new Date().toISOString(), labels: opts.labels ?? {}, options: opts.options ?? {}, anonymous: opts.anonymous ?? false };
      await writeJsonAtomic(path.join(tmp, 'volume.json'), meta, 0o600);
      try {
        await fs.rename(tmp, path.join(this.dir, name));
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        if (code !== 'ENOTEMPTY' && code !== 'EEXIST') throw err;
        // Someone else created it at the same moment: theirs wins.
        return await this.inspect(name);
      }
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
    return this.inspect(name);
  }

  async find(name: string): Promise<Volume | undefined> {
    if (!this.validName(name)) return undefined;
    const vdir = path.join(this.dir, name);
    let meta: Omit<Volume, 'mountpoint'> | undefined;
    try {
      meta = await readJson<Omit<Volume, 'mountpoint'>>(path.join(vdir, 'volume.json'));
    } catch {
      return undefined;
    }
    if (meta === undefined || meta.name !== name) return undefined;
    const source = driverNamed(meta.driver).source(vdir);
    return { ...meta, mountpoint: source.kind === 'block' ? source.file : source.dir };
  }

  async inspect(name: string): Promise<Volume> {
    const v = await this.find(name);
    if (!v) throw new NotFoundError('volume', name, 'create it with `nestbox volume create NAME`');
    return v;
  }

  async list(): Promise<Volume[]> {
    let names: string[];
    try {
      names = await fs.readdir(this.dir);
    } catch {
      return [];
    }
    const out: Volume[] = [];
    for (const n of names.filter((x) => !x.startsWith('.')).sort()) {
      const v = await this.find(n);
      if (v) out.push(v);
    }
    return out;
  }

  /** How a sandbox reaches the volume's data. */
  async source(name: string): Promise<VolumeSource> {
    const v = await this.inspect(name);
    return driverNamed(v.driver).source(path.join(this.dir, name));
  }

  async usage(name: string): Promise<number> {
    const v = await this.inspect(name);
    return driverNamed(v.driver).usage(path.join(this.dir, name));
  }

  /** Remove; refused while a container names it (remove the container first). */
  async remove(name: string, users: VolumeUsers): Promise<void> {
    await this.inspect(name);
    const using = await users(name);
    if (using.length > 0) {
      throw new ConflictError(`remove volume ${name}: volume is in use by container${using.length > 1 ? 's' : ''} ${using.map((u) => u.slice(0, 12)).join(', ')}; remove ${using.length > 1 ? 'them' : 'it'} first`, 'VOLUME_IN_USE');
    }
    // Rename first so a half-deleted volume is never listed.
    const doomed = path.join(this.dir, `.rm-${process.pid}-${randomBytes(6).toString('hex')}`);
    await fs.rename(path.join(this.dir, name), doomed);
    await fs.rm(doomed, { recursive: true, force: true });
  }

  /** Remove every volume no container names (anonymous ones only unless `all`). */
  async prune(users: VolumeUsers, all: boolean): Promise<{ removed: string[]; bytes: number }> {
    const removed: string[] = [];
    let bytes = 0;
    for (const v of await this.list()) {
      if (!all && !v.anonymous) continue;
      if ((await users(v.name)).length > 0) continue;
      bytes += await this.usage(v.name);
      await this.remove(v.name, users);
      removed.push(v.name);
    }
    return { removed, bytes };
  }

  private validName(name: string): boolean {
    try {
      checkVolumeName(name);
      return true;
    } catch {
      return false;
    }
  }
}
