import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { readJson, writeJsonAtomic } from './atomic.js';
import { ConflictError, InvalidArgumentError, NotFoundError } from './errors.js';
import { withLock } from './lock.js';
import type { Container, ContainerConfig, ContainerState } from './container.js';
import { storePaths, type StorePaths } from './paths.js';

/** How long the exit code of an auto-removed container is kept for late waiters. */
const TOMBSTONE_MS = 10 * 60 * 1000;
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;
/**
 * A name claimed this long ago whose container directory does not exist is free again: a create
 * killed between claiming the name and making the directory (milliseconds apart) left it.
 */
const STALE_NAME_MS = 60_000;

/**
 * Containers on disk: `containers/<id>/{config.json,state.json,…}` plus `names/<name>` (holding the
 * id, created with O_EXCL so two CLIs can never take one name). Every state change happens under
 * the container's lock and is written atomically.
 */
export class ContainerStore {
  readonly paths: StorePaths;
  private readonly configs = new Map<string, ContainerConfig>();

  constructor(root: string) {
    this.paths = storePaths(root);
  }

  dirOf(id: string): string {
    return path.join(this.paths.containers, id);
  }

  /** `prepare` puts files in the new directory before the container is listed (its config is written last). */
  async create(config: ContainerConfig, state: ContainerState, prepare?: (dir: string) => Promise<void>): Promise<Container> {
    if (!NAME_RE.test(config.name)) {
      throw new InvalidArgumentError(`invalid container name "${config.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    }
    await fs.mkdir(this.paths.containers, { recursive: true, mode: 0o700 });
    await fs.mkdir(this.paths.names, { recursive: true, mode: 0o700 });
    const nameFile = path.join(this.paths.names, config.name);
    await this.claimName(config.name, config.id);
    const dir = this.dirOf(config.id);
    try {
      await fs.mkdir(dir, { mode: 0o700 });
      await prepare?.(dir);
      await writeJsonAtomic(path.join(dir, 'state.json'), state, 0o600);
      await writeJsonAtomic(path.join(dir, 'config.json'), config, 0o600);
    } catch (err) {
      await fs.rm(dir, { recursive: true, force: true });
      await fs.rm(nameFile, { force: true });
      throw err;
    }
    return { config, state, dir };
  }

  /** Find by full id, unique id prefix, or name. */
  async get(ref: string): Promise<Container> {
    const id = await this.resolveId(ref);
    const c = await this.load(id);
    if (!c) throw new NotFoundError('container', ref);
    return c;
  }

  async resolveId(ref: string): Promise<string> {
    if (!ref) throw new InvalidArgumentError('container name or ID must not be empty');
    if (NAME_RE.test(ref)) {
      const byName = await fs.readFile(path.join(this.paths.names, ref), 'utf8').catch(() => undefined);
      if (byName) return byName.trim();
    }
    if (/^[0-9a-f]{1,64}$/.test(ref)) {
      const ids = (await this.ids()).filter((id) => id.startsWith(ref));
      if (ids.length === 1) return ids[0]!;
      if (ids.length > 1) throw new InvalidArgumentError(`container ID prefix "${ref}" is ambiguous: it matches ${ids.length} containers`);
    }
    throw new NotFoundError('container', ref);
  }

  async load(id: string): Promise<Container | undefined> {
    const dir = this.dirOf(id);
    const state = await readJson<ContainerState>(path.join(dir, 'state.json')).catch(() => undefined);
    if (!state) return undefined;
    // config.json never changes after create, and ids are never reused: read it once per process
    let config = this.configs.get(id);
    if (!config) {
      config = await readJson<ContainerConfig>(path.join(dir, 'config.json')).catch(() => undefined);
      if (!config) return undefined;
      this.configs.set(id, config);
    }
    return { config, state, dir };
  }

  async ids(): Promise<string[]> {
    return (await fs.readdir(this.paths.containers).catch(() => [] as string[])).filter((n) => /^[0-9a-f]{64}$/.test(n));
  }

  async list(): Promise<Container[]> {
    const all = await Promise.all((await this.ids()).map((id) => this.load(id)));
    return all.filter((c): c is Container => c !== undefined);
  }

  /** Read-modify-write of a container's state under its lock; returns the new state. */
  async update(id: string, fn: (c: Container) => ContainerState | Promise<ContainerState>): Promise<Container> {
    return withLock(this.paths.root, `container-${id}`, async () => {
      const c = await this.load(id);
      if (!c) throw new NotFoundError('container', id);
      const state = await fn(c);
      await writeJsonAtomic(path.join(c.dir, 'state.json'), state, 0o600);
      return { ...c, state };
    });
  }

  /** `durable: false` for a state a power loss may lose (it ends the sandbox anyway): no fsync. */
  async saveState(c: Container, state: ContainerState, opts: { durable?: boolean } = {}): Promise<Container> {
    await writeJsonAtomic(path.join(c.dir, 'state.json'), state, 0o600, opts.durable ?? true);
    return { ...c, state };
  }

  /**
   * Give a container a new configuration with the same id (a warm-pool sandbox adopted by a
   * create): the new name is claimed first (O_EXCL), then config.json is replaced, then the old
   * name is released. The caller holds the container's start lock.
   */
  async replaceConfig(c: Container, config: ContainerConfig): Promise<Container> {
    if (config.id !== c.config.id) throw new InvalidArgumentError('replaceConfig: the id cannot change');
    if (config.name !== c.config.name) {
      if (!NAME_RE.test(config.name)) throw new InvalidArgumentError(`invalid container name "${config.name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
      await this.claimName(config.name, config.id);
    }
    await writeJsonAtomic(path.join(c.dir, 'config.json'), config, 0o600);
    this.configs.set(config.id, config);
    if (config.name !== c.config.name) await fs.rm(path.join(this.paths.names, c.config.name), { force: true });
    return { ...c, config };
  }

  /** Delete the container's directory and name. The caller has stopped everything first. */
  async delete(c: Container): Promise<void> {
    this.configs.delete(c.config.id);
    // Move it out of the way first: from then on the container is gone for every reader, and a
    // late writer (a monitor finishing its teardown, a state refresh) cannot resurrect the path.
    // Such a writer may still add a file to the moved directory while it is being removed, so
    // the removal retries on ENOTEMPTY.
    const trash = path.join(this.paths.containers, `.removing-${c.config.id}-${process.pid}`);
    const target = await fs.rename(c.dir, trash).then(() => trash, () => c.dir);
    await fs.rm(target, { recursive: true, force: true, maxRetries: 10, retryDelay: 50 });
    const nameFile = path.join(this.paths.names, c.config.name);
    const holder = await fs.readFile(nameFile, 'utf8').catch(() => undefined);
    if (holder?.trim() === c.config.id) await fs.rm(nameFile, { force: true });
  }

  /**
   * The exit code of an auto-removed (--rm) container, kept briefly after removal so a `wait`
   * that lost the race to the remover still learns how it ended.
   */
  async writeTombstone(c: Container): Promise<void> {
    const dir = path.join(this.paths.root, 'tombstones');
    await fs.mkdir(dir, { recursive: true, mode: 0o700 });
    await writeJsonAtomic(path.join(dir, c.config.id), { exitCode: c.state.exitCode ?? 0, at: Date.now() }, 0o600);
    for (const name of await fs.readdir(dir)) {
      const st = await fs.stat(path.join(dir, name)).catch(() => undefined);
      if (st && Date.now() - st.mtimeMs > TOMBSTONE_MS) await fs.rm(path.join(dir, name), { force: true });
    }
  }

  async readTombstone(id: string): Promise<number | undefined> {
    const t = await readJson<{ exitCode: number }>(path.join(this.paths.root, 'tombstones', id)).catch(() => undefined);
    return t?.exitCode;
  }

  async nameTaken(name: string): Promise<boolean> {
    const nameFile = path.join(this.paths.names, name);
    return (await fs.access(nameFile).then(() => true, () => false)) && !(await this.staleName(nameFile));
  }

  /** `names/<name>` created with O_EXCL; a stale claim (STALE_NAME_MS) is removed once and the claim retried. */
  private async claimName(name: string, id: string): Promise<void> {
    const nameFile = path.join(this.paths.names, name);
    for (let retried = false; ; retried = true) {
      try {
        await fs.writeFile(nameFile, id, { flag: 'wx' });
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      }
      // under a lock: two creates that both found the claim stale must not both remove it (the
      // second would remove the first one's fresh claim)
      const removed = !retried && (await withLock(this.paths.root, `name-${name}`, async () => (await this.staleName(nameFile)) && (await fs.rm(nameFile, { force: true }), true)));
      if (removed) continue;
      const holder = (await fs.readFile(nameFile, 'utf8').catch(() => '')).trim();
      throw new ConflictError(
        `the container name "/${name}" is already in use by container "${holder}". You have to remove (or rename) that container to be able to reuse that name.`,
        'NAME_IN_USE',
      );
    }
  }

  /** A claim older than STALE_NAME_MS whose container directory does not exist. */
  private async staleName(nameFile: string): Promise<boolean> {
    const st = await fs.stat(nameFile).catch(() => undefined);
    if (!st || Date.now() - st.mtimeMs < STALE_NAME_MS) return false;
    const holder = (await fs.readFile(nameFile, 'utf8').catch(() => '')).trim();
    if (holder === '') return true; // killed between creating the file and writing the id
    if (!/^[0-9a-f]{64}$/.test(holder)) return false;
    return !(await fs.access(this.dirOf(holder)).then(() => true, () => false));
  }
}
