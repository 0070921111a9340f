import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { DigestCache } from './digest-cache.js';
import { ConflictError, InvalidArgumentError, NotFoundError } from './errors.js';
import { isProcessAlive, procStartTime } from './proc.js';
import { CHECKPOINT_FILES, CHECKPOINT_NAME_RE, CheckpointError, digestFile, parseManifest, type CheckpointManifest, type Digest } from './checkpoint-manifest.js';
import { digestRamFile } from './ram-digest.js';
import { setTimeout as sleep } from 'node:timers/promises';
import { TICK_MS as DIGEST_TICK_MS } from './digest-cache.js';

/** In a temp directory: `<pid> <start time>` of the process writing it, so a later sweep knows it died. */
const OWNER_FILE = 'owner';

export interface CheckpointInfo extends CheckpointManifest {
  dir: string;
  /** Bytes on the host. */
  diskBytes: number;
}

/**
 * Checkpoints on disk: `<root>/checkpoints/<name>/` with `manifest.json` and the files it lists.
 * One is written in `.tmp-<name>-*` and renamed into place when complete, so a listed checkpoint
 * is always whole; whatever a killed writer left is swept by the next command.
 */
export class CheckpointStore {
  /** `cache`: verified digests, so that a restore does not hash every file again (digest-cache.ts). */
  constructor(readonly dir: string, private readonly cache?: DigestCache) {}

  pathOf(name: string): string {
    if (!CHECKPOINT_NAME_RE.test(name)) throw new InvalidArgumentError(`invalid checkpoint name "${name}": only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    return path.join(this.dir, name);
  }

  exists(name: string): boolean {
    return existsSync(this.pathOf(name));
  }

  /** A fresh private directory for a checkpoint being written, owned by this process. `extra`: what a sweep must undo. */
  async tempDir(name: string, extra: Record<string, unknown> = {}): Promise<string> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const dir = path.join(this.dir, `.tmp-${name}-${randomBytes(4).toString('hex')}`);
    await fs.mkdir(dir, { mode: 0o700 });
    await fs.writeFile(path.join(dir, OWNER_FILE), JSON.stringify({ pid: process.pid, start: procStartTime(process.pid), ...extra }), { mode: 0o600 });
    return dir;
  }

  /** Move a complete checkpoint into place; refuses to replace one. */
  async commit(tmp: string, name: string): Promise<string> {
    await fs.rm(path.join(tmp, OWNER_FILE), { force: true });
    const dst = this.pathOf(name);
    try {
      // rename(2) onto an existing non-empty directory fails: two writers of one name cannot both win
      await fs.rename(tmp, dst);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOTEMPTY' || code === 'EEXIST') throw new ConflictError(`checkpoint ${name} already exists`, 'CHECKPOINT_EXISTS');
      throw err;
    }
    return dst;
  }

  /**
   * Make `dir` (a private directory of the caller's on this filesystem, holding the files of
   * manifest `m` and an owner file) checkpoint `name`. The caller wrote the files and hashed them
   * as it wrote them (`digests`, checked against the manifest): they are made read-only and those
   * digests are recorded, so the restore that follows hashes nothing again.
   */
  async adopt(dir: string, name: string, m: CheckpointManifest, digests: Partial<Record<keyof CheckpointManifest['files'], Digest>>): Promise<void> {
    this.pathOf(name);
    await fs.writeFile(path.join(dir, CHECKPOINT_FILES.manifest), JSON.stringify({ ...m, name }, null, 2) + '\n', { mode: 0o600 });
    for (const [key, d] of Object.entries(digests)) {
      const file = path.join(dir, CHECKPOINT_FILES[key as keyof typeof CHECKPOINT_FILES]);
      await fs.chmod(file, 0o400);
      await this.cache?.recordWritten(file, d, key === 'ram' ? 'ram' : 'sha256');
    }
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    await this.commit(dir, name);
  }

  /**
   * Temp directories whose writer is gone (killed mid-checkpoint, mid-import) and trash. Returns
   * the owner records of the swept directories, for the caller to undo what they note (a source
   * left stopped).
   */
  async sweep(): Promise<Array<Record<string, unknown>>> {
    const undone: Array<Record<string, unknown>> = [];
    for (const name of await fs.readdir(this.dir).catch(() => [] as string[])) {
      const dir = path.join(this.dir, name);
      if (name.startsWith('.trash-')) {
        await fs.rm(dir, { recursive: true, force: true });
        continue;
      }
      if (!name.startsWith('.tmp-')) continue;
      const owner = await fs.readFile(path.join(dir, OWNER_FILE), 'utf8').then((t) => JSON.parse(t) as Record<string, unknown>, () => undefined);
      if (owner && isProcessAlive(Number(owner.pid), owner.start as string | undefined)) continue;
      // no owner file: a commit that was renaming, or a writer killed before it wrote one; give it a minute
      if (!owner && Date.now() - (await fs.stat(dir).catch(() => ({ mtimeMs: 0 }))).mtimeMs < 60_000) continue;
      if (owner) undone.push(owner);
      await fs.rm(dir, { recursive: true, force: true });
    }
    return undone;
  }

  /** The manifest of checkpoint `name` (shape checked, files not yet). */
  async manifest(name: string): Promise<CheckpointManifest> {
    const dir = this.pathOf(name);
    const text = await fs.readFile(path.join(dir, CHECKPOINT_FILES.manifest), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT' && !existsSync(dir)) throw new NotFoundError('file', `checkpoint ${name}`, 'see `nestbox checkpoint ls`');
      throw new CheckpointError(`checkpoint ${name}: manifest.json is missing or unreadable`);
    });
    const m = parseManifest(text, name);
    if (m.name !== name) throw new CheckpointError(`checkpoint ${name}: its manifest names checkpoint ${m.name}`);
    return m;
  }

  /** Every file of the checkpoint against the manifest's sizes and sha256 (and no file it does not list). */
  async verify(dir: string, m: CheckpointManifest, where: string): Promise<void> {
    const listed = new Set<string>([CHECKPOINT_FILES.manifest]);
    for (const [key, want] of Object.entries(m.files)) {
      const file = CHECKPOINT_FILES[key as keyof typeof CHECKPOINT_FILES];
      listed.add(file);
      const st = await fs.lstat(path.join(dir, file)).catch(() => undefined);
      if (!st?.isFile()) throw new CheckpointError(`checkpoint ${where}: ${file} is missing`);
      if (st.size !== want.bytes) throw new CheckpointError(`checkpoint ${where}: ${file} is ${st.size} bytes, the manifest says ${want.bytes} (truncated or corrupt)`);
      const kind = key === 'ram' ? 'ram' : 'sha256';
      const got = this.cache ? await this.cache.digest(path.join(dir, file), kind) : await (kind === 'ram' ? digestRamFile : digestFile)(path.join(dir, file));
      if (got.sha256 !== want.sha256) throw new CheckpointError(`checkpoint ${where}: ${file} does not match its sha256 in the manifest (corrupt)`);
    }
    for (const name of await fs.readdir(dir)) if (!listed.has(name)) throw new CheckpointError(`checkpoint ${where}: unexpected file ${name}`);
  }

  async list(): Promise<CheckpointInfo[]> {
    const out: CheckpointInfo[] = [];
    for (const name of (await fs.readdir(this.dir).catch(() => [] as string[])).filter((n) => CHECKPOINT_NAME_RE.test(n))) {
      const m = await this.manifest(name).catch(() => undefined);
      if (!m) continue;
      let diskBytes = 0;
      for (const f of await fs.readdir(this.pathOf(name))) diskBytes += ((await fs.stat(path.join(this.pathOf(name), f)).catch(() => undefined))?.blocks ?? 0) * 512;
      out.push({ ...m, dir: this.pathOf(name), diskBytes });
    }
    return out.sort((a, b) => b.created.localeCompare(a.created));
  }

  async remove(name: string): Promise<void> {
    const dir = this.pathOf(name);
    const trash = path.join(this.dir, `.trash-${name}-${randomBytes(4).toString('hex')}`);
    try {
      await fs.rename(dir, trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new NotFoundError('file', `checkpoint ${name}`, 'see `nestbox checkpoint ls`');
      throw err;
    }
    await fs.rm(trash, { recursive: true, force: true });
  }

  /** `checkpoint export`: a plain tar of the checkpoint's files, written next to `file` and renamed. */
  async exportTo(name: string, file: string): Promise<void> {
    const m = await this.manifest(name);
    const dir = this.pathOf(name);
    await this.verify(dir, m, name);
    const names = [CHECKPOINT_FILES.manifest, ...Object.keys(m.files).map((k) => CHECKPOINT_FILES[k as keyof typeof CHECKPOINT_FILES])];
    const tmp = `${file}.tmp-${randomBytes(4).toString('hex')}`;
    try {
      // --sparse: the RAM file is mostly holes (a 256 MiB guest: ~70 MB of data)
      await tar(['-c', '-f', tmp, '--format=gnu', '--sparse', '--owner=0', '--group=0', '-C', dir, ...names]);
      await fs.rename(tmp, file);
    } finally {
      await fs.rm(tmp, { force: true });
    }
  }

  /**
   * `checkpoint import`: the tar is hostile. Only regular files with the known names are accepted
   * (listed before anything is extracted), extracted into a temp dir, checked against the manifest
   * (sizes, sha256), then renamed into place. Returns the checkpoint's name.
   */
  async importFrom(file: string, rename?: string): Promise<string> {
    const listing = await tar(['-t', '-v', '-f', file]).catch((err: Error) => {
      throw new CheckpointError(`import \`${file}\`: not a readable tar file (${err.message})`);
    });
    const allowed = new Set<string>(Object.values(CHECKPOINT_FILES));
    const seen = new Set<string>();
    for (const line of listing.split('\n').filter(Boolean)) {
      const fields = line.trim().split(/\s+/);
      const entry = fields.slice(5).join(' ');
      if (!line.startsWith('-')) throw new CheckpointError(`import \`${file}\`: entry ${entry} is not a regular file`);
      if (!allowed.has(entry)) throw new CheckpointError(`import \`${file}\`: unexpected entry ${entry} (a checkpoint holds ${[...allowed].join(', ')})`);
      if (seen.has(entry)) throw new CheckpointError(`import \`${file}\`: entry ${entry} appears twice`);
      seen.add(entry);
    }
    if (!seen.has(CHECKPOINT_FILES.manifest)) throw new CheckpointError(`import \`${file}\`: no manifest.json (not a nestbox checkpoint)`);
    const tmp = await this.tempDir('import');
    try {
      await tar(['-x', '-f', file, '-C', tmp, '--no-same-owner', '--no-same-permissions', '--no-overwrite-dir', ...seen]);
      const m = parseManifest(await fs.readFile(path.join(tmp, CHECKPOINT_FILES.manifest), 'utf8'), `from \`${file}\``);
      await fs.rm(path.join(tmp, 'owner'), { force: true });
      // never changed in place (restores map `ram`): read-only before they are checked and their digests kept
      for (const n of seen) if (n !== CHECKPOINT_FILES.manifest) await fs.chmod(path.join(tmp, n), 0o400);
      // the digest cache keeps a digest only for a file unchanged since a clock tick before it was
      // hashed: past that, the digests checked here are kept, and a restore (a migration's, at
      // once) does not hash `ram` again (~0.4 s)
      await sleep(DIGEST_TICK_MS + 5);
      await this.verify(tmp, m, `from \`${file}\``);
      const name = rename ?? m.name;
      if (rename) {
        this.pathOf(rename);
        await fs.writeFile(path.join(tmp, CHECKPOINT_FILES.manifest), JSON.stringify({ ...m, name: rename }, null, 2) + '\n', { mode: 0o600 });
      }
      if (this.exists(name)) throw new ConflictError(`checkpoint ${name} already exists: remove it or import with --name`, 'CHECKPOINT_EXISTS');
      await this.commit(tmp, name);
      return name;
    } finally {
      await fs.rm(tmp, { recursive: true, force: true });
    }
  }
}

function tar(args: string[]): Promise<string> {
  return new Promise((resolve, reject) =>
    execFile('tar', args, { maxBuffer: 1 << 20 }, (err, out, stderr) => (err ? reject(new Error(String(stderr).trim() || err.message)) : resolve(String(out)))),
  );
}
