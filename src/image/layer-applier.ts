/**
 * What one tar entry does to the rootfs being built: create files, dirs, links and nodes; honour
 * whiteouts (`.wh.<name>`) and opaque dirs (`.wh..wh..opq`) against lower layers only; refuse
 * anything that would write outside the rootfs or through a symlink.
 */
import { constants, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ImageError, NestboxError, describeSysError } from '../core/errors.js';
import { OPAQUE_MARKER, WHITEOUT_PREFIX, ancestorsOf, baseOf, isWithin, joinRel, normaliseEntryPath, parentOf } from './entry-path.js';
import { drain, type TarEntry, type TarHeader } from './tar-read.js';
import { chownPath, isRoot, lstatOrUndefined, makeNode, removeTree, walkParents } from './unpack-fs.js';

interface DirMeta {
  mode: number;
  uid: number;
  gid: number;
  mtime: Date;
}

const CREATE_FLAGS = constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW;

export function shortDigest(digest: string): string {
  const [alg, hex] = digest.split(':');
  return hex === undefined ? digest : `${alg}:${hex.slice(0, 12)}…`;
}

export class LayerApplier {
  /** Directory metadata is applied last, deepest first, so later writes do not disturb it. */
  private readonly dirMeta = new Map<string, DirMeta>();
  private subject = '';
  /** Paths this layer wrote, and their ancestors: whiteouts must spare both. */
  private written = new Set<string>();
  private touched = new Set<string>();

  constructor(private readonly root: string, private readonly devicesAllowed: boolean) {}

  beginLayer(digest: string): void {
    this.subject = `layer ${shortDigest(digest)}`;
    this.written = new Set();
    this.touched = new Set();
  }

  async applyEntry(h: TarHeader, body: TarEntry): Promise<void> {
    const p = normaliseEntryPath(h.name);
    if (!p.ok) this.refuse(h.name, p.reason);
    try {
      const base = baseOf(p.rel);
      if (base.startsWith(WHITEOUT_PREFIX)) {
        await drain(body);
        await this.applyWhiteout(p.rel, h.name);
      } else {
        await this.createEntry(p.rel, h, body);
      }
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      if (err instanceof NestboxError || e.syscall === undefined) throw err; // stream errors: readTar reports the cause
      throw new ImageError(describeSysError(`unpack ${this.subject}: entry \`${h.name}\`: ${e.syscall ?? 'write'}`, e.path ?? p.rel, err), 'IMAGE_UNPACK_FAILED', { cause: err });
    }
  }

  /** Apply deferred directory modes, owners and mtimes, deepest first. */
  async finish(): Promise<void> {
    const dirs = [...this.dirMeta.entries()].sort((a, b) => b[0].split('/').length - a[0].split('/').length || b[0].length - a[0].length);
    for (const [rel, meta] of dirs) {
      const abs = path.join(this.root, rel);
      const st = await lstatOrUndefined(abs);
      if (!st?.isDirectory()) continue;
      await chownPath(abs, meta.uid, meta.gid);
      await fs.chmod(abs, meta.mode);
      await fs.utimes(abs, meta.mtime, meta.mtime);
    }
  }

  private refuse(name: string, reason: string): never {
    throw new ImageError(`unpack ${this.subject}: entry \`${name}\` ${reason}`, 'IMAGE_HOSTILE');
  }

  private async applyWhiteout(rel: string, name: string): Promise<void> {
    const base = baseOf(rel);
    const dir = parentOf(rel);
    const walk = await walkParents(this.root, rel, false);
    if (!walk.ok) {
      if ('reason' in walk) this.refuse(name, walk.reason);
      return; // nothing below to hide
    }
    if (base === OPAQUE_MARKER) return this.removeLower(dir);
    if (base.startsWith(`${WHITEOUT_PREFIX}${WHITEOUT_PREFIX}`)) return; // aufs metadata, not a whiteout
    const hidden = base.slice(WHITEOUT_PREFIX.length);
    if (hidden === '' || hidden === '.' || hidden === '..') this.refuse(name, 'is a whiteout of nothing');
    const target = joinRel(dir, hidden);
    if (this.written.has(target) && !(await lstatOrUndefined(path.join(this.root, target)))?.isDirectory()) return;
    if (this.touched.has(target) || this.written.has(target)) return this.removeLower(target);
    await this.removePath(target);
  }

  /** Empty `dir` of everything that came from lower layers, keeping what this layer wrote. */
  private async removeLower(dir: string): Promise<void> {
    const abs = path.join(this.root, dir);
    const st = await lstatOrUndefined(abs);
    if (!st?.isDirectory()) return;
    for (const name of await fs.readdir(abs)) {
      const child = joinRel(dir, name);
      if (this.touched.has(child)) await this.removeLower(child);
      else if (this.written.has(child)) {
        if ((await lstatOrUndefined(path.join(this.root, child)))?.isDirectory()) await this.removeLower(child);
      } else await this.removePath(child);
    }
  }

  private async removePath(rel: string): Promise<void> {
    const abs = path.join(this.root, rel);
    const wasDir = (await lstatOrUndefined(abs))?.isDirectory() ?? false;
    await removeTree(abs);
    if (wasDir) for (const key of this.dirMeta.keys()) if (isWithin(key, rel)) this.dirMeta.delete(key);
  }

  private async createEntry(rel: string, h: TarHeader, body: TarEntry): Promise<void> {
    const type = h.type as string | null;
    if (rel === '') {
      if (type !== 'directory') this.refuse(h.name, 'replaces the rootfs root with a non-directory');
      this.dirMeta.set('', meta(h));
      return drain(body);
    }
    const abs = path.join(this.root, rel);
    if (type === 'link') {
      await drain(body);
      return this.createHardlink(rel, abs, h);
    }
    await this.prepare(rel, h.name, type === 'directory');
    switch (type) {
      case 'file':
      case 'contiguous-file':
        return this.createFile(abs, h, body);
      case 'directory':
        if (!(await lstatOrUndefined(abs))) await fs.mkdir(abs, { mode: 0o700 });
        this.dirMeta.set(rel, meta(h));
        return drain(body);
      case 'symlink':
        await drain(body);
        if (!h.linkname) this.refuse(h.name, 'is a symlink with an empty target');
        await fs.symlink(h.linkname, abs);
        await chownPath(abs, h.uid, h.gid);
        return fs.lutimes(abs, h.mtime, h.mtime);
      case 'character-device':
      case 'block-device':
      case 'fifo':
        await drain(body);
        return this.createNode(abs, h, type);
      default:
        this.refuse(h.name, `has an unsupported type (${type ?? 'unknown'})`);
    }
  }

  /** Make the parents, then clear the way: an existing entry is removed unless dir meets dir. */
  private async prepare(rel: string, name: string, isDir: boolean): Promise<void> {
    const walk = await walkParents(this.root, rel, true);
    if (!walk.ok && 'reason' in walk) this.refuse(name, walk.reason);
    const existing = await lstatOrUndefined(path.join(this.root, rel));
    if (existing && !(isDir && existing.isDirectory())) await this.removePath(rel);
    this.written.add(rel);
    for (const a of ancestorsOf(rel)) this.touched.add(a);
  }

  private async createFile(abs: string, h: TarHeader, body: TarEntry): Promise<void> {
    const fh = await fs.open(abs, CREATE_FLAGS, 0o600);
    try {
      for await (const chunk of body) {
        for (let off = 0; off < chunk.length; ) off += (await fh.write(chunk, off)).bytesWritten;
      }
      if (isRoot) await fh.chown(h.uid, h.gid);
      await fh.chmod(h.mode & 0o7777);
      await fh.utimes(h.mtime, h.mtime);
    } finally {
      await fh.close();
    }
  }

  private async createHardlink(rel: string, abs: string, h: TarHeader): Promise<void> {
    const target = normaliseEntryPath(h.linkname ?? '');
    if (!target.ok) this.refuse(h.name, `is a hardlink to \`${h.linkname}\`, which ${target.reason}`);
    if (target.rel === '') this.refuse(h.name, 'is a hardlink to the rootfs root');
    if (target.rel === rel) return;
    const walk = await walkParents(this.root, target.rel, false);
    if (!walk.ok) this.refuse(h.name, `is a hardlink to \`${h.linkname}\`, which ${'reason' in walk ? walk.reason : 'does not exist'}`);
    const st = await lstatOrUndefined(path.join(this.root, target.rel));
    if (!st) this.refuse(h.name, `is a hardlink to \`${h.linkname}\`, which does not exist`);
    if (st.isDirectory()) this.refuse(h.name, `is a hardlink to the directory \`${h.linkname}\``);
    if (isWithin(target.rel, rel)) this.refuse(h.name, `is a hardlink to \`${h.linkname}\`, which it would replace`);
    await this.prepare(rel, h.name, false);
    await fs.link(path.join(this.root, target.rel), abs);
  }

  private async createNode(abs: string, h: TarHeader, type: 'character-device' | 'block-device' | 'fifo'): Promise<void> {
    if (!this.devicesAllowed) this.refuse(h.name, 'is a device node or fifo; these are only created inside the store\'s private (0700) directory');
    if (type !== 'fifo' && !isRoot) return; // rootless: device nodes cannot be made; skip them as rootless runtimes do
    await makeNode(abs, type === 'fifo' ? 'p' : type === 'block-device' ? 'b' : 'c', h.mode, h.devmajor, h.devminor);
    await chownPath(abs, h.uid, h.gid);
    await fs.chmod(abs, h.mode & 0o7777);
    await fs.lutimes(abs, h.mtime, h.mtime);
  }
}

function meta(h: TarHeader): DirMeta {
  return { mode: h.mode & 0o7777, uid: h.uid, gid: h.gid, mtime: h.mtime };
}
