import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Container } from './container.js';
import type { Engine } from './engine.js';
import { ConflictError, NotFoundError } from './errors.js';
import { isProcessAlive, procStartTime } from './proc.js';
import { Checkpoints } from './checkpoints.js';
import { CHECKPOINT_FILES, CheckpointError, parseManifest } from './checkpoint-manifest.js';
import { MigrationUpload } from './migration-upload.js';

/**
 * The destination of `nestbox migrate` (docs/checkpoints.md, "Migration"): an incoming migration
 * is a directory `<root>/migrations/.in-<id>/` holding the source's checkpoint manifest; the source
 * then sends the checkpoint's files into it (each hashed as it arrives, migration-upload.ts), and
 * `finish` makes it a checkpoint of this root, restores it as a running container under the
 * source's name, and removes the checkpoint. Directories a killed server left are swept.
 */
const ID_RE = /^[0-9a-f]{24}$/;
/** Largest body of one PUT (a file chunk, or runs of RAM pages with their headers). */
export const MIGRATION_CHUNK_BYTES = 16 * 1024 * 1024;
/** An upload nothing was added to for this long is abandoned (its source died): swept. */
const IDLE_MS = Number(process.env.NESTBOX_MIGRATION_IDLE_MS ?? 10 * 60_000);

/** Uploads this process is receiving, by directory (their hashes live here, not on disk). */
const uploads = new Map<string, MigrationUpload>();
/** Uploads being checked and restored (`finish`). */
const starting = new Set<MigrationUpload>();

export class IncomingMigrations {
  private readonly dir: string;

  constructor(private readonly engine: Engine) {
    this.dir = path.join(engine.root, 'migrations');
  }

  private pathOf(id: string): string {
    if (!ID_RE.test(id)) throw new NotFoundError('migration', id);
    return path.join(this.dir, `.in-${id}`);
  }

  /** The upload `id` this process is receiving. */
  private upload(id: string): MigrationUpload {
    const u = uploads.get(this.pathOf(id));
    if (u) return u;
    if (existsSync(this.pathOf(id))) throw new ConflictError(`migration ${id} was begun by another server process (this one restarted?): start the migration again`, 'MIGRATION_BROKEN');
    throw new NotFoundError('migration', id);
  }

  /**
   * A migration of the checkpoint `manifestText` describes, to run as container `name`. Refused
   * before anything is sent when the manifest is not one this host can restore (its image, guest,
   * QEMU) or the name is taken here.
   */
  async create(name: string, manifestText: string): Promise<string> {
    await this.sweep();
    const m = parseManifest(manifestText, 'of the migration');
    if (m.kind !== 'full') throw new CheckpointError(`checkpoint of the migration: a ${m.kind} checkpoint (a migration moves a running container: full)`);
    if (await this.engine.store.nameTaken(name)) throw new ConflictError(`the container name "${name}" is already in use here`, 'NAME_IN_USE');
    await new Checkpoints(this.engine).checkCompatible(m, `of container ${name}`);
    const id = randomBytes(12).toString('hex');
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const dir = this.pathOf(id);
    await fs.mkdir(dir, { mode: 0o700 });
    await fs.writeFile(path.join(dir, 'owner'), JSON.stringify({ pid: process.pid, start: procStartTime(process.pid) }), { mode: 0o600 });
    await fs.writeFile(path.join(dir, CHECKPOINT_FILES.manifest), manifestText, { mode: 0o600 });
    const upload = new MigrationUpload(id, dir, m);
    for (const [, file] of upload.files()) await fs.writeFile(file, '', { mode: 0o600 });
    uploads.set(dir, upload);
    return id;
  }

  appendFile(id: string, key: string, offset: number, chunk: Buffer): Promise<number> {
    return this.upload(id).appendFile(key, offset, chunk);
  }

  receiveRam(id: string, body: AsyncIterable<Buffer>): Promise<number> {
    return this.upload(id).receiveRam(body);
  }

  /** Check the upload, and restore it as a running container named `name`. */
  async finish(id: string, name: string): Promise<{ container: Container; ms: number }> {
    const t0 = Date.now();
    const upload = this.upload(id);
    // one start per upload: a second (a retried request) must not remove what the first restores from
    if (starting.has(upload)) throw new ConflictError(`migration ${id} is already being started`, 'MIGRATION_BROKEN');
    starting.add(upload);
    const checkpoints = new Checkpoints(this.engine);
    const cpName = `migration-${id}`;
    try {
      const digests = await upload.complete();
      await checkpoints.store.adopt(upload.dir, cpName, upload.m, digests);
      const r = await checkpoints.restore(cpName, { name });
      return { container: r.container, ms: Date.now() - t0 };
    } finally {
      starting.delete(upload);
      uploads.delete(upload.dir);
      upload.close();
      await checkpoints.remove(cpName).catch(() => undefined);
      await fs.rm(upload.dir, { recursive: true, force: true });
    }
  }

  async abort(id: string): Promise<void> {
    const dir = this.pathOf(id);
    if (!existsSync(dir)) throw new NotFoundError('migration', id);
    const u = uploads.get(dir);
    uploads.delete(dir);
    u?.close();
    await fs.rm(dir, { recursive: true, force: true });
  }

  /** Uploads whose server died, or whose source stopped sending. */
  async sweep(): Promise<void> {
    for (const n of await fs.readdir(this.dir).catch(() => [] as string[])) {
      if (!n.startsWith('.in-')) continue;
      const d = path.join(this.dir, n);
      const owner = await fs.readFile(path.join(d, 'owner'), 'utf8').then((t) => JSON.parse(t) as { pid?: unknown; start?: unknown }, () => undefined);
      const alive = owner && typeof owner.pid === 'number' && isProcessAlive(owner.pid, typeof owner.start === 'string' ? owner.start : undefined);
      if (alive && Date.now() - (await lastWrite(d)) < IDLE_MS) continue;
      const u = uploads.get(d);
      uploads.delete(d);
      u?.close();
      await fs.rm(d, { recursive: true, force: true });
    }
  }
}

/** When a file of directory `d` was last written (ms). */
async function lastWrite(d: string): Promise<number> {
  let last = 0;
  for (const n of await fs.readdir(d).catch(() => [] as string[])) last = Math.max(last, (await fs.stat(path.join(d, n)).catch(() => undefined))?.mtimeMs ?? 0);
  return last;
}
