import { createHash, randomBytes } from 'node:crypto';
import { deleteLink } from '../../net/links.js';
import { existsSync, promises as fs, statSync } from 'node:fs';
import * as path from 'node:path';
import { NestboxError } from '../../core/errors.js';
import { Lock } from '../../core/lock.js';
import { isProcessAlive, killQuietly, waitProcessGone } from '../../core/proc.js';
import type { Accel } from './accel.js';
import { QEMU_BINARY } from './command.js';

/**
 * VM templates on disk: `<root>/templates/<key>/` holds `manifest.json`, `ram` (guest memory,
 * mapped privately by every sandbox restored from it), `state` (CPU and device state) and
 * `rw.pristine` (the writable disk as the prepared guest left it when saved; each sandbox gets a copy).
 * A template is written in a temp directory and renamed into place, so a listed one is complete.
 */

export const TEMPLATE_FILES = { manifest: 'manifest.json', ram: 'ram', state: 'state', rwPristine: 'rw.pristine' } as const;
/** In a build directory: `<pid> <start time>` of the template VM, for a later sweep if the builder dies. */
export const BUILD_PID_FILE = 'qemu.pid';
/** 2: the guest is saved prepared (PREPARE: root mounted), not only booted. */
export const MANIFEST_VERSION = 2;

/** What a template is made of; a sandbox may be restored from it only if all of it still holds. */
export interface TemplateSpec {
  /** The image reference as the user gave it (for `template ls`). */
  image: string;
  imageId: string;
  chainId: string;
  rootDisk: string;
  memoryMiB: number;
  cpus: number;
  accel: Accel;
  kernel: string;
  initrd: string;
  append: string[];
}

interface FileId {
  path: string;
  size: number;
  mtimeMs: number;
  ino: number;
}

export interface TemplateManifest {
  version: number;
  key: string;
  image: string;
  imageId: string;
  chainId: string;
  memoryMiB: number;
  cpus: number;
  accel: Accel;
  append: string[];
  kernel: FileId;
  initrd: FileId;
  rootDisk: FileId;
  qemu: FileId;
  created: string;
  bootMs: number;
  state: { bytes: number; sha256: string };
  rwDiskBytes: number;
}

/** The template cannot be used; the sandbox boots instead. */
export class TemplateUnusable extends NestboxError {
  constructor(message: string) {
    super('TEMPLATE_UNUSABLE', message);
  }
}

function fileId(file: string): FileId {
  const st = statSync(file);
  return { path: file, size: st.size, mtimeMs: st.mtimeMs, ino: st.ino };
}

const sameFile = (a: FileId | undefined, b: FileId) => !!a && a.path === b.path && a.size === b.size && a.mtimeMs === b.mtimeMs && a.ino === b.ino;

/** The QEMU binary that would run, resolved through PATH like spawn does. */
export function qemuBinaryPath(): string {
  if (QEMU_BINARY.includes('/')) return path.resolve(QEMU_BINARY);
  for (const dir of (process.env.PATH ?? '').split(':').filter(Boolean)) {
    const candidate = path.join(dir, QEMU_BINARY);
    if (existsSync(candidate)) return candidate;
  }
  return QEMU_BINARY;
}

export class TemplateStore {
  constructor(readonly dir: string) {}

  /** Templates differ by image, VM size, accelerator, kernel, initramfs (agent) and kernel arguments. */
  keyFor(spec: TemplateSpec): string {
    const identity = {
      v: MANIFEST_VERSION,
      chainId: spec.chainId,
      memoryMiB: spec.memoryMiB,
      cpus: spec.cpus,
      accel: spec.accel,
      kernel: fileId(spec.kernel),
      initrd: fileId(spec.initrd),
      append: spec.append,
    };
    return createHash('sha256').update(JSON.stringify(identity)).digest('hex').slice(0, 16);
  }

  pathOf(key: string): string {
    return path.join(this.dir, key);
  }

  /** The manifest of a complete template, checked against `spec` and its files; throws TemplateUnusable. */
  async open(key: string, spec: TemplateSpec): Promise<TemplateManifest> {
    const dir = this.pathOf(key);
    const m = await this.readManifest(key);
    const why = mismatch(m, key, spec);
    if (why) throw new TemplateUnusable(`template ${key}: ${why}`);
    const size = async (name: string) => (await fs.stat(path.join(dir, name)).catch(() => undefined))?.size;
    if ((await size(TEMPLATE_FILES.ram)) !== spec.memoryMiB * 1024 * 1024) throw new TemplateUnusable(`template ${key}: its RAM file is missing or not ${spec.memoryMiB} MiB`);
    if ((await size(TEMPLATE_FILES.rwPristine)) !== m.rwDiskBytes) throw new TemplateUnusable(`template ${key}: its pristine writable disk is missing or has the wrong size`);
    const state = await fs.readFile(path.join(dir, TEMPLATE_FILES.state)).catch(() => undefined);
    if (!state || state.length !== m.state.bytes || createHash('sha256').update(state).digest('hex') !== m.state.sha256) {
      throw new TemplateUnusable(`template ${key}: its device state is missing or does not match the manifest (corrupt?)`);
    }
    return m;
  }

  async readManifest(key: string): Promise<TemplateManifest> {
    let m: TemplateManifest;
    try {
      m = JSON.parse(await fs.readFile(path.join(this.pathOf(key), TEMPLATE_FILES.manifest), 'utf8')) as TemplateManifest;
    } catch (err) {
      const e = err as NodeJS.ErrnoException;
      throw new TemplateUnusable(`template ${key}: ${e.code === 'ENOENT' ? 'none recorded' : `unreadable manifest (${e.message})`}`);
    }
    if (typeof m !== 'object' || m === null || m.version !== MANIFEST_VERSION) throw new TemplateUnusable(`template ${key}: manifest of another version`);
    return m;
  }

  /** Every complete template (directories whose manifest parses). */
  async list(): Promise<TemplateManifest[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const out: TemplateManifest[] = [];
    for (const name of names.filter((n) => /^[0-9a-f]{16}$/.test(n))) {
      const m = await this.readManifest(name).catch(() => undefined);
      if (m) out.push(m);
    }
    return out.sort((a, b) => b.created.localeCompare(a.created));
  }

  /** Host bytes a template takes (allocated blocks: its files are sparse). */
  async diskUsage(key: string): Promise<number> {
    let total = 0;
    for (const name of Object.values(TEMPLATE_FILES)) {
      const st = await fs.stat(path.join(this.pathOf(key), name)).catch(() => undefined);
      total += st ? st.blocks * 512 : 0;
    }
    return total;
  }

  /** Take the template's lock (builders and removers; restores need none: files are never changed in place). */
  lock(key: string, timeoutMs = 300_000): Promise<Lock> {
    return Lock.acquire(this.dir, `template-${key}`, timeoutMs);
  }

  /**
   * What an interrupted build of `key` left (the caller holds its lock, so no build is running):
   * its QEMU, identified by the pid file and start time it wrote, and its temp directory.
   */
  async sweep(key: string): Promise<void> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.startsWith(`.tmp-${key}-`) || n.startsWith(`.trash-${key}-`))) {
      const dir = path.join(this.dir, name);
      const [pid, start] = (await fs.readFile(path.join(dir, BUILD_PID_FILE), 'utf8').catch(() => '')).trim().split(' ');
      if (pid && isProcessAlive(Number(pid), start)) {
        killQuietly(Number(pid), 'SIGKILL');
        await waitProcessGone(Number(pid), start, 5000);
      }
      await fs.rm(dir, { recursive: true, force: true });
      // the tap a killed build left (named after its directory)
      await deleteLink(buildTap(dir)).catch(() => undefined);
    }
  }

  /** A fresh private directory to build a template in. */
  async tempDir(key: string): Promise<string> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const dir = path.join(this.dir, `.tmp-${key}-${randomBytes(4).toString('hex')}`);
    await fs.mkdir(dir, { mode: 0o700 });
    return dir;
  }

  /** Move a finished build into place, replacing an older template of that key. */
  async commit(tmp: string, key: string): Promise<void> {
    const dst = this.pathOf(key);
    if (existsSync(dst)) await this.discard(key);
    await fs.rename(tmp, dst);
  }

  /**
   * Remove a template. Sandboxes restored from it keep running: their QEMU holds the RAM file
   * open, and nothing is changed in place.
   */
  async discard(key: string): Promise<void> {
    const trash = path.join(this.dir, `.trash-${key}-${randomBytes(4).toString('hex')}`);
    try {
      await fs.rename(this.pathOf(key), trash);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw err;
    }
    await fs.rm(trash, { recursive: true, force: true });
  }

  /** Templates of the same image and VM size made with other guest files: nothing can use them any more. */
  async superseded(spec: TemplateSpec, key: string): Promise<string[]> {
    return (await this.list())
      .filter((m) => m.key !== key && m.chainId === spec.chainId && m.memoryMiB === spec.memoryMiB && m.cpus === spec.cpus && m.accel === spec.accel)
      .map((m) => m.key);
  }

  /** Why building `key` failed recently (recorded so that every run does not retry a failing build), if it did. */
  async recentFailure(key: string, withinMs = 10 * 60_000): Promise<string | undefined> {
    const file = path.join(this.dir, `.failed-${key}`);
    const st = await fs.stat(file).catch(() => undefined);
    if (!st || Date.now() - st.mtimeMs > withinMs) return undefined;
    return (await fs.readFile(file, 'utf8').catch(() => '')).trim() || 'unknown error';
  }

  async recordFailure(key: string, why: string | undefined): Promise<void> {
    const file = path.join(this.dir, `.failed-${key}`);
    if (why === undefined) await fs.rm(file, { force: true });
    else await fs.writeFile(file, `${why}\n`, { mode: 0o600 }).catch(() => undefined);
  }

  /** The current identity of the files a template depends on (recorded in its manifest). */
  static identity(spec: TemplateSpec): Pick<TemplateManifest, 'kernel' | 'initrd' | 'rootDisk' | 'qemu'> {
    return { kernel: fileId(spec.kernel), initrd: fileId(spec.initrd), rootDisk: fileId(spec.rootDisk), qemu: fileId(qemuBinaryPath()) };
  }
}

/** Why manifest `m` does not fit `spec` now, or undefined. */
function mismatch(m: TemplateManifest, key: string, spec: TemplateSpec): string | undefined {
  if (m.key !== key) return 'manifest of another template';
  if (m.chainId !== spec.chainId) return 'made from another image';
  if (m.memoryMiB !== spec.memoryMiB || m.cpus !== spec.cpus || m.accel !== spec.accel) return 'made for another VM size or accelerator';
  const now = TemplateStore.identity(spec);
  if (!sameFile(m.kernel, now.kernel)) return 'the guest kernel changed since';
  if (!sameFile(m.initrd, now.initrd)) return 'the initramfs (guest agent) changed since';
  if (!sameFile(m.rootDisk, now.rootDisk)) return "the image's root disk was rebuilt since";
  if (!sameFile(m.qemu, now.qemu)) return 'QEMU changed since';
  return undefined;
}

/**
 * The tap a template build gives its NIC: named after the build's temp directory, so builds of
 * one template in two state roots do not collide and a sweep finds what a killed build left.
 */
export function buildTap(tmpDir: string): string {
  return `nbt-t${createHash('sha256').update(tmpDir).digest('hex').slice(0, 8)}`;
}
