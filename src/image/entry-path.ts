/**
 * Tar entry names turned into safe, rootfs-relative paths (`a/b/c`, `''` for the root), or a
 * reason why not. Nothing here touches the file system.
 */
import * as path from 'node:path';

export const MAX_COMPONENT_BYTES = 255;
export const MAX_PATH_BYTES = 4096;
export const WHITEOUT_PREFIX = '.wh.';
export const OPAQUE_MARKER = '.wh..wh..opq';

export type EntryPath = { ok: true; rel: string } | { ok: false; reason: string };

/** Normalise an entry name: refuse absolute paths, escapes via `..`, NUL bytes and over-long names. */
export function normaliseEntryPath(name: string): EntryPath {
  if (name.includes('\0')) return { ok: false, reason: 'contains a NUL byte' };
  if (name.startsWith('/')) return { ok: false, reason: 'is an absolute path' };
  if (Buffer.byteLength(name) > MAX_PATH_BYTES) return { ok: false, reason: `is longer than ${MAX_PATH_BYTES} bytes` };
  const normal = path.posix.normalize(name);
  if (normal === '..' || normal.startsWith('../')) return { ok: false, reason: 'escapes the rootfs' };
  const rel = normal === '.' || normal === './' ? '' : normal.replace(/\/+$/, '');
  for (const component of rel === '' ? [] : rel.split('/')) {
    if (Buffer.byteLength(component) > MAX_COMPONENT_BYTES) {
      return { ok: false, reason: `has a path component longer than ${MAX_COMPONENT_BYTES} bytes` };
    }
  }
  return { ok: true, rel };
}

export function parentOf(rel: string): string {
  const i = rel.lastIndexOf('/');
  return i === -1 ? '' : rel.slice(0, i);
}

export function baseOf(rel: string): string {
  return rel.slice(rel.lastIndexOf('/') + 1);
}

export function joinRel(dir: string, name: string): string {
  return dir === '' ? name : `${dir}/${name}`;
}

/** `a/b/c` → [`a`, `a/b`] (the proper ancestors, top first). */
export function ancestorsOf(rel: string): string[] {
  const out: string[] = [];
  for (let i = rel.indexOf('/'); i !== -1; i = rel.indexOf('/', i + 1)) out.push(rel.slice(0, i));
  return out;
}

/** Whether `rel` is `dir` or inside it. */
export function isWithin(rel: string, dir: string): boolean {
  return dir === '' || rel === dir || rel.startsWith(`${dir}/`);
}
