import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { execFile } from 'node:child_process';
import type { ContainerConfig } from './container.js';
import type { DigestCache } from './digest-cache.js';
import { NestboxError } from './errors.js';

/**
 * A checkpoint's manifest (`manifest.json`): what it holds and what it needs to be restored. It
 * comes from a file a user may have copied from anywhere: everything in it is checked.
 */

export const CHECKPOINT_FORMAT = 'nestbox-checkpoint';
/**
 * 2: the guest's RAM is a file of its own (`ram`, mapped by a restore) and `state` holds the rest
 * of the migration stream; 1 (refused): RAM inside `state`.
 */
export const CHECKPOINT_VERSION = 2;
/** Files a checkpoint directory may hold (nothing else is accepted on import). */
export const CHECKPOINT_FILES = { manifest: 'manifest.json', state: 'state', ram: 'ram', disk: 'rw.qcow2', log: 'log', events: 'events' } as const;
export const CHECKPOINT_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/;

export type CheckpointKind = 'full' | 'disk';

export interface Digest {
  bytes: number;
  sha256: string;
}

export interface CheckpointManifest {
  format: typeof CHECKPOINT_FORMAT;
  version: number;
  nestboxVersion: string;
  name: string;
  kind: CheckpointKind;
  created: string;
  source: { id: string; name: string };
  /** The source container's configuration (a restore copies it with a new id and name). */
  container: ContainerConfig;
  /** Pid of the main process in the guest (full checkpoints: it keeps running). */
  guestPid?: number;
  image: { ref: string; id: string; chainId: string; rootDisk: Digest };
  guest: { kernel: Digest; initramfs: Digest; agent: string; qemu: string; accel: string };
  memoryMiB: number;
  cpus: number;
  /** Name of the guest's RAM block in `state` (a template-restored source: `ram`; booted: `microvm.ram`). */
  ramBlock: 'ram' | 'microvm.ram';
  /**
   * Size and sha256 of each file; for `ram` the sha256 is of its non-zero 4 KiB pages, each after
   * its page number (src/core/ram-digest.ts): the same bytes, without hashing the zeros.
   */
  files: Partial<Record<Exclude<keyof typeof CHECKPOINT_FILES, 'manifest'>, Digest>>;
  /** How long the guest was stopped while it was saved (full), in ms. */
  pausedMs?: number;
}

/** A checkpoint that cannot be used: corrupt, foreign, or from another nestbox. */
export class CheckpointError extends NestboxError {
  constructor(message: string, code: 'CHECKPOINT_CORRUPT' | 'CHECKPOINT_FOREIGN' | 'CHECKPOINT_FAILED' = 'CHECKPOINT_CORRUPT') {
    super(code, message);
  }
}

export async function digestFile(file: string): Promise<Digest> {
  const h = createHash('sha256');
  let bytes = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 1 << 20 })) {
    h.update(chunk as Buffer);
    bytes += (chunk as Buffer).length;
  }
  return { bytes, sha256: h.digest('hex') };
}

/**
 * Digests of large files that do not change (kernel, initramfs, root disks), by path, size, mtime
 * and inode; with `cache`, verified digests kept under the state root (src/core/digest-cache.ts).
 */
const digestCache = new Map<string, Promise<Digest>>();
export async function digestStable(file: string, cache?: DigestCache): Promise<Digest> {
  if (cache) return cache.digest(file);
  const { stat } = await import('node:fs/promises');
  const st = await stat(file);
  const key = `${file}:${st.size}:${st.mtimeMs}:${st.ino}`;
  let d = digestCache.get(key);
  if (!d) digestCache.set(key, (d = digestFile(file)));
  return d;
}

let qemuVersion: Promise<string> | undefined;
/** `qemu-system-x86_64 --version`, first line: a saved stream needs the same QEMU. */
export function qemuVersionString(binary: string): Promise<string> {
  qemuVersion ??= new Promise((resolve) => execFile(binary, ['--version'], (err, out) => resolve(err ? 'unknown' : String(out).split('\n')[0]!.trim())));
  return qemuVersion;
}

const isDigest = (d: unknown): d is Digest =>
  typeof d === 'object' && d !== null && Number.isSafeInteger((d as Digest).bytes) && (d as Digest).bytes >= 0 && /^[0-9a-f]{64}$/.test(String((d as Digest).sha256));
const isStr = (s: unknown, max = 4096): s is string => typeof s === 'string' && s.length > 0 && s.length <= max;

/** Parse and check the shape of a manifest from a file (hostile); throws CheckpointError naming what is wrong. */
export function parseManifest(text: string, where: string): CheckpointManifest {
  let m: CheckpointManifest;
  try {
    m = JSON.parse(text) as CheckpointManifest;
  } catch (err) {
    throw new CheckpointError(`checkpoint ${where}: manifest.json is not JSON (${(err as Error).message})`);
  }
  const bad = (what: string) => new CheckpointError(`checkpoint ${where}: manifest.json: ${what}`);
  if (typeof m !== 'object' || m === null || m.format !== CHECKPOINT_FORMAT) throw bad('not a nestbox checkpoint manifest');
  if (m.version === 1) throw new CheckpointError(`checkpoint ${where}: format version 1 (its RAM inside the state stream), made by an older nestbox; this one reads version ${CHECKPOINT_VERSION} only: create the checkpoint again`, 'CHECKPOINT_FOREIGN');
  if (m.version !== CHECKPOINT_VERSION) throw new CheckpointError(`checkpoint ${where}: format version ${String(m.version)}, this nestbox reads version ${CHECKPOINT_VERSION}`, 'CHECKPOINT_FOREIGN');
  if (!isStr(m.name, 128) || !CHECKPOINT_NAME_RE.test(m.name)) throw bad('invalid name');
  if (m.kind !== 'full' && m.kind !== 'disk') throw bad(`invalid kind ${String(m.kind)}`);
  if (!isStr(m.nestboxVersion, 64) || !isStr(m.created, 64)) throw bad('missing nestbox version or creation time');
  const c = m.container;
  if (typeof c !== 'object' || c === null || c.isolation !== 'vm' || !isStr(c.name, 128) || !isStr(c.hostname, 255) || !Array.isArray(c.process?.args) || !c.process.args.every((a) => typeof a === 'string')) throw bad('invalid container configuration');
  if (!Number.isSafeInteger(m.memoryMiB) || m.memoryMiB < 16 || m.memoryMiB > 1024 * 1024 || m.memoryMiB !== c.memoryMiB) throw bad('invalid memory size');
  if (!Number.isSafeInteger(m.cpus) || m.cpus < 1 || m.cpus > 256 || m.cpus !== c.cpus) throw bad('invalid CPU count');
  if (c.machineId !== undefined && !/^[0-9a-f]{32}$/.test(c.machineId)) throw bad('invalid machine-id');
  if (typeof m.image !== 'object' || m.image === null || !isStr(m.image.id) || !isStr(m.image.chainId) || !isDigest(m.image.rootDisk)) throw bad('invalid image record');
  const g = m.guest;
  if (typeof g !== 'object' || g === null || !isDigest(g.kernel) || !isDigest(g.initramfs) || typeof g.agent !== 'string' || !isStr(g.qemu) || !isStr(g.accel)) throw bad('invalid guest record');
  if (m.ramBlock !== 'ram' && m.ramBlock !== 'microvm.ram') throw bad('invalid RAM block name');
  if (m.guestPid !== undefined && (!Number.isSafeInteger(m.guestPid) || m.guestPid < 1)) throw bad('invalid guest pid');
  if (typeof m.files !== 'object' || m.files === null) throw bad('no file list');
  for (const [k, d] of Object.entries(m.files)) if (!(k in CHECKPOINT_FILES) || k === 'manifest' || !isDigest(d)) throw bad(`invalid file entry ${k}`);
  if (m.kind === 'full' && (!m.files.state || !m.files.ram)) throw bad('a full checkpoint without its state or RAM file');
  if (m.kind === 'disk' && (m.files.state || m.files.ram)) throw bad('a disk-only checkpoint with a state or RAM file');
  if (m.files.ram && m.files.ram.bytes !== m.memoryMiB * 1024 * 1024) throw bad(`the RAM file is ${m.files.ram.bytes} bytes, not the guest's ${m.memoryMiB} MiB`);
  if (!c.readOnly && !m.files.disk) throw bad('no writable disk');
  return m;
}
