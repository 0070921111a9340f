/**
 * What a container mounts besides its image: named (or anonymous) volumes, host directories and
 * tmpfs, parsed from docker's three spellings — `-v SRC:DST[:ro]`, `--mount type=…,src=…,dst=…`
 * and `--tmpfs DST[:size=…]` — into one checked list.
 */
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from './errors.js';

export type MountSpec =
  | { type: 'volume'; source: string; target: string; readOnly: boolean; anonymous?: boolean }
  | { type: 'bind'; source: string; target: string; readOnly: boolean }
  | { type: 'tmpfs'; target: string; readOnly: boolean; sizeBytes?: number; mode?: number };

/** Docker's rule for volume names. */
export const VOLUME_NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;
const MAX_NAME = 128;

export function checkVolumeName(name: string, what = 'volume name'): string {
  if (!VOLUME_NAME_RE.test(name) || name.length > MAX_NAME) {
    throw new InvalidArgumentError(`invalid ${what} "${name}": use letters, digits, '_', '.' and '-' (starting with a letter or digit, at most ${MAX_NAME})`);
  }
  return name;
}

/** A new anonymous volume's name: 64 hex digits, as docker's. */
export function anonymousVolumeName(): string {
  return randomBytes(32).toString('hex');
}

/** `-v name:/data`, `-v /host/dir:/data:ro`, `-v /data` (anonymous volume). */
export function parseVolumeFlag(value: string): MountSpec {
  const parts = value.split(':');
  const bad = (why: string): never => {
    throw new InvalidArgumentError(`invalid -v "${value}": ${why} (use NAME:/path, /host/dir:/path[:ro] or /path)`);
  };
  if (parts.some((p) => p === '')) bad('empty field');
  if (parts.length === 1) return { type: 'volume', source: anonymousVolumeName(), target: checkTarget(parts[0]!, value), readOnly: false, anonymous: true };
  if (parts.length > 3) bad('too many `:`');
  const [src, dst, opts] = parts as [string, string, string | undefined];
  let readOnly = false;
  for (const o of (opts ?? '').split(',').filter(Boolean)) {
    if (o === 'ro') readOnly = true;
    else if (o === 'rw') readOnly = false;
    else if (o === 'z' || o === 'Z' || o === 'nocopy' || o === 'private' || o === 'rprivate') continue; // SELinux labels, propagation: not applicable
    else bad(`unknown option "${o}"`);
  }
  const target = checkTarget(dst, value);
  if (src.startsWith('/') || src.startsWith('./') || src.startsWith('../') || src === '.') {
    return { type: 'bind', source: path.resolve(src), target, readOnly };
  }
  return { type: 'volume', source: checkVolumeName(src), target, readOnly };
}

/** `--mount type=volume|bind|tmpfs,source=…,target=…[,readonly][,tmpfs-size=…][,tmpfs-mode=…]`. */
export function parseMountFlag(value: string): MountSpec {
  const kv = new Map<string, string>();
  const bad = (why: string): never => {
    throw new InvalidArgumentError(`invalid --mount "${value}": ${why}`);
  };
  for (const field of value.split(',')) {
    if (field === '') continue;
    const eq = field.indexOf('=');
    const key = (eq < 0 ? field : field.slice(0, eq)).trim().toLowerCase();
    const v = eq < 0 ? 'true' : field.slice(eq + 1);
    const canonical = ({ src: 'source', dst: 'target', destination: 'target', ro: 'readonly' } as Record<string, string>)[key] ?? key;
    if (kv.has(canonical)) bad(`"${key}" given twice`);
    kv.set(canonical, v);
  }
  const type = kv.get('type') ?? 'volume';
  const target = kv.get('target') ?? bad('target is required');
  const readOnly = parseBool(kv.get('readonly') ?? 'false', value);
  const known = new Set(['type', 'source', 'target', 'readonly', 'tmpfs-size', 'tmpfs-mode', 'volume-nocopy', 'consistency', 'bind-propagation']);
  for (const k of kv.keys()) if (!known.has(k)) bad(`unknown field "${k}"`);
  if (type === 'tmpfs') {
    if (kv.has('source')) bad('a tmpfs mount has no source');
    return tmpfs(checkTarget(target, value), readOnly, kv.get('tmpfs-size'), kv.get('tmpfs-mode'), value);
  }
  if (kv.has('tmpfs-size') || kv.has('tmpfs-mode')) bad('tmpfs-size and tmpfs-mode are for type=tmpfs');
  if (type === 'bind') {
    const source = kv.get('source') ?? bad('a bind mount needs source=/host/path');
    if (!path.isAbsolute(source)) bad('a bind mount source must be an absolute path');
    return { type: 'bind', source: path.resolve(source), target: checkTarget(target, value), readOnly };
  }
  if (type !== 'volume') bad(`unknown type "${type}" (use volume, bind or tmpfs)`);
  const source = kv.get('source');
  return source
    ? { type: 'volume', source: checkVolumeName(source), target: checkTarget(target, value), readOnly }
    : { type: 'volume', source: anonymousVolumeName(), target: checkTarget(target, value), readOnly, anonymous: true };
}

/** `--tmpfs /run`, `--tmpfs /run:size=64m,mode=1777,ro`. */
export function parseTmpfsFlag(value: string): MountSpec {
  const colon = value.indexOf(':');
  const target = checkTarget(colon < 0 ? value : value.slice(0, colon), value);
  let size: string | undefined;
  let mode: string | undefined;
  let readOnly = false;
  for (const o of colon < 0 ? [] : value.slice(colon + 1).split(',').filter(Boolean)) {
    if (o.startsWith('size=')) size = o.slice(5);
    else if (o.startsWith('mode=')) mode = o.slice(5);
    else if (o === 'ro') readOnly = true;
    else if (['rw', 'noexec', 'exec', 'nosuid', 'suid', 'nodev', 'dev'].includes(o)) continue;
    else throw new InvalidArgumentError(`invalid --tmpfs "${value}": unknown option "${o}" (use size=, mode=, ro)`);
  }
  return tmpfs(target, readOnly, size, mode, value);
}

function tmpfs(target: string, readOnly: boolean, size: string | undefined, mode: string | undefined, value: string): MountSpec {
  const out: MountSpec = { type: 'tmpfs', target, readOnly };
  if (size !== undefined) out.sizeBytes = parseBytes(size, value);
  if (mode !== undefined) {
    if (!/^[0-7]{3,4}$/.test(mode)) throw new InvalidArgumentError(`invalid tmpfs mode "${mode}" in "${value}": use octal, e.g. 1777`);
    out.mode = parseInt(mode, 8);
  }
  return out;
}

/** `64m`, `1g`, `1048576` → bytes. */
export function parseBytes(text: string, context: string): number {
  const m = /^(\d+)([kmg]?)b?$/i.exec(text.trim());
  if (!m) throw new InvalidArgumentError(`invalid size "${text}" in "${context}": use a number with an optional k, m or g`);
  const unit = { '': 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 }[m[2]!.toLowerCase() as '' | 'k' | 'm' | 'g'];
  const bytes = Number(m[1]) * unit;
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new InvalidArgumentError(`invalid size "${text}" in "${context}"`);
  return bytes;
}

function parseBool(v: string, value: string): boolean {
  if (v === 'true' || v === '1') return true;
  if (v === 'false' || v === '0') return false;
  throw new InvalidArgumentError(`invalid --mount "${value}": readonly must be true or false`);
}

/** A mount target: absolute, normalised, not `/`, no `..`. */
function checkTarget(target: string, value: string): string {
  if (!target.startsWith('/')) throw new InvalidArgumentError(`invalid mount "${value}": the container path "${target}" must be absolute`);
  if (target.split('/').includes('..')) throw new InvalidArgumentError(`invalid mount "${value}": the container path must not contain ".."`);
  const norm = path.posix.normalize(target).replace(/\/+$/, '');
  if (norm === '' || norm === '/') throw new InvalidArgumentError(`invalid mount "${value}": cannot mount over the container's root`);
  if (norm.length > 1024 || /[\0\n\t]/.test(norm)) throw new InvalidArgumentError(`invalid mount "${value}": bad container path`);
  return norm;
}

/** No two mounts on one target. */
export function checkMounts(mounts: readonly MountSpec[]): void {
  const seen = new Set<string>();
  for (const m of mounts) {
    if (seen.has(m.target)) throw new InvalidArgumentError(`duplicate mount point: ${m.target}`);
    seen.add(m.target);
  }
}
