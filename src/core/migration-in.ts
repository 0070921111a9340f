import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Container } from './container.js';
import type { Engine } from './engine.js';
import { ConflictError, InvalidArgumentError, NotFoundError } from './errors.js';
import { isProcessAlive, procStartTime } from './proc.js';
import { Checkpoints } from './checkpoints.js';

/**
 * The destination of `nestbox migrate` (docs/checkpoints.md, "Migration"): an incoming migration
 * is a directory `<root>/migrations/.in-<id>/` into which the source uploads its checkpoint
 * export (`checkpoint.tar`) in chunks; `finish` imports it (every file checked: the upload is
 * hostile), restores it as a running container under the source's name, and removes the
 * checkpoint. Directories a killed server left are swept.
 */
const TAR = 'checkpoint.tar';
const ID_RE = /^[0-9a-f]{24}$/;
/** Largest chunk of an upload (one PUT): few round trips for a checkpoint of tens of MiB. */
export const MIGRATION_CHUNK_BYTES = 16 * 1024 * 1024;
/** A migration larger than this is refused (a 64 GiB guest's checkpoint is far smaller). */
const MAX_BYTES = 80 * 1024 ** 3;
/** An upload nothing was added to for this long is abandoned (its source died): swept. */
const IDLE_MS = Number(process.env.NESTBOX_MIGRATION_IDLE_MS ?? 10 * 60_000);

export class IncomingMigrations {
  private readonly dir: string;

  constructor(private readonly engine: Engine) {
    this.dir = path.join(engine.root, 'migrations');
  }

  private pathOf(id: string): string {
    if (!ID_RE.test(id)) throw new NotFoundError('migration', id);
    return path.join(this.dir, `.in-${id}`);
  }

  private async existing(id: string): Promise<string> {
    const dir = this.pathOf(id);
    if (!(await fs.stat(dir).then((s) => s.isDirectory(), () => false))) throw new NotFoundError('migration', id);
    return dir;
  }

  async create(): Promise<string> {
    await this.sweep();
    const id = randomBytes(12).toString('hex');
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const dir = this.pathOf(id);
    await fs.mkdir(dir, { mode: 0o700 });
    await fs.writeFile(path.join(dir, 'owner'), JSON.stringify({ pid: process.pid, start: procStartTime(process.pid) }), { mode: 0o600 });
    await fs.writeFile(path.join(dir, TAR), '', { mode: 0o600 });
    return id;
  }

  /** Append `chunk` to the upload; `offset` must be its current size (a retried or reordered chunk is refused). */
  async append(id: string, offset: number, chunk: Buffer): Promise<number> {
    const file = path.join(await this.existing(id), TAR);
    const size = (await fs.stat(file)).size;
    if (!Number.isSafeInteger(offset) || offset !== size) throw new ConflictError(`migration ${id}: chunk at offset ${offset}, but ${size} bytes were received`, 'MIGRATION_OFFSET');
    if (size + chunk.length > MAX_BYTES) throw new InvalidArgumentError(`migration ${id}: upload larger than ${MAX_BYTES} bytes`);
    await fs.appendFile(file, chunk);
    return size + chunk.length;
  }

  /** Import and restore the uploaded checkpoint as a running container named `name`. */
  async finish(id: string, name: string): Promise<{ container: Container; ms: number }> {
    const t0 = Date.now();
    const dir = await this.existing(id);
    const checkpoints = new Checkpoints(this.engine);
    const cpName = `migration-${id}`;
    try {
      await checkpoints.importFrom(path.join(dir, TAR), cpName);
      await fs.rm(path.join(dir, TAR), { force: true });
      const r = await checkpoints.restore(cpName, { name });
      return { container: r.container, ms: Date.now() - t0 };
    } finally {
      await checkpoints.remove(cpName).catch(() => undefined);
      await fs.rm(dir, { recursive: true, force: true });
    }
  }

  async abort(id: string): Promise<void> {
    await fs.rm(await this.existing(id), { recursive: true, force: true });
  }

  /** Uploads whose server died, or whose source stopped sending (not while one is being restored: it has no tar left). */
  async sweep(): Promise<void> {
    for (const n of await fs.readdir(this.dir).catch(() => [] as string[])) {
      if (!n.startsWith('.in-')) continue;
      const d = path.join(this.dir, n);
      const owner = await fs.readFile(path.join(d, 'owner'), 'utf8').then((t) => JSON.parse(t) as { pid?: unknown; start?: unknown }, () => undefined);
      const alive = owner && typeof owner.pid === 'number' && isProcessAlive(owner.pid, typeof owner.start === 'string' ? owner.start : undefined);
      const touched = await fs.stat(path.join(d, TAR)).then((st) => st.mtimeMs, () => undefined);
      if (alive && (touched === undefined || Date.now() - touched < IDLE_MS)) continue;
      await fs.rm(d, { recursive: true, force: true });
    }
  }
}
