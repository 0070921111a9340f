/**
 * The files of an image archive, by path: a tarball (docker-archive, oci-archive; optionally
 * gzipped) is extracted into staging in one pass, an OCI layout directory is copied file by file
 * on demand. Either way every file handed out is staged and hashed. Archive symlinks (docker save
 * uses them for repeated layers) are followed inside the archive only.
 */
import { createReadStream, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ImageError, NestboxError, NotFoundError } from '../core/errors.js';
import { openUncompressed } from './compression.js';
import { DigestMeter } from './digest.js';
import { normaliseEntryPath, parentOf } from './entry-path.js';
import type { StagedFile, Staging } from './staging.js';
import { drain, readTar } from './tar-read.js';

const MAX_LINK_HOPS = 16;

export interface ArchiveSource {
  /** For messages: `` `/path/to/image.tar` ``. */
  readonly label: string;
  /** The staged file at `rel` (a path inside the archive), or undefined when there is none. */
  get(rel: string): Promise<StagedFile | undefined>;
}

type TarItem = StagedFile | { link: string };

/** Extract every regular file of the tarball into staging (bounded by `maxBytes` uncompressed). */
export async function openTarSource(file: string, staging: Staging, maxBytes: number): Promise<ArchiveSource> {
  const label = `\`${file}\``;
  const items = new Map<string, TarItem>();
  const meter = new DigestMeter(maxBytes, () => new ImageError(`load ${label}: decompression bomb: more than ${maxBytes} bytes uncompressed`, 'IMAGE_TOO_LARGE'));
  try {
    await readTar([...(await openUncompressed(file, `archive ${label}`)), meter], async (h, body) => {
      const p = normaliseEntryPath(h.name);
      if (!p.ok) throw new ImageError(`load ${label}: entry \`${h.name}\` ${p.reason}`, 'IMAGE_HOSTILE');
      if (h.type === 'file' || h.type === 'contiguous-file') {
        items.set(p.rel, await staging.stageStream(body));
        return;
      }
      await drain(body);
      if (h.type === 'symlink' && h.linkname) {
        const target = h.linkname.startsWith('/') ? h.linkname : path.posix.join(parentOf(p.rel), h.linkname);
        items.set(p.rel, { link: target });
      } else if (h.type === 'link' && h.linkname) {
        items.set(p.rel, { link: h.linkname });
      }
    });
  } catch (err) {
    if (err instanceof NestboxError) throw err;
    const e = err as NodeJS.ErrnoException;
    if (e.code === 'ENOENT' && e.path === file) throw new NotFoundError('file', file);
    if (e.syscall !== undefined) throw err;
    throw new ImageError(`load ${label}: corrupt or truncated archive: ${e.message}`, 'IMAGE_INVALID', { cause: err });
  }
  return {
    label,
    async get(rel) {
      let current = rel;
      for (let hop = 0; hop <= MAX_LINK_HOPS; hop++) {
        const p = normaliseEntryPath(current);
        if (!p.ok) throw new ImageError(`load ${label}: path \`${current}\` ${p.reason}`, 'IMAGE_HOSTILE');
        const item = items.get(p.rel);
        if (item === undefined) return undefined;
        if (!('link' in item)) return item;
        current = item.link;
      }
      throw new ImageError(`load ${label}: \`${rel}\`: too many levels of links`, 'IMAGE_INVALID');
    },
  };
}

/** An OCI image layout directory; files are staged the first time they are asked for. */
export async function openDirSource(dir: string, staging: Staging): Promise<ArchiveSource> {
  const label = `\`${dir}\``;
  const root = await fs.realpath(dir);
  const cache = new Map<string, StagedFile | undefined>();
  return {
    label,
    async get(rel) {
      const p = normaliseEntryPath(rel);
      if (!p.ok) throw new ImageError(`load ${label}: path \`${rel}\` ${p.reason}`, 'IMAGE_HOSTILE');
      if (cache.has(p.rel)) return cache.get(p.rel);
      let real: string;
      try {
        real = await fs.realpath(path.join(root, p.rel));
      } catch {
        cache.set(p.rel, undefined);
        return undefined;
      }
      if (real !== root && !real.startsWith(`${root}/`)) throw new ImageError(`load ${label}: \`${rel}\` points outside the directory`, 'IMAGE_HOSTILE');
      if (!(await fs.stat(real)).isFile()) return undefined;
      const staged = await staging.stageStream(createReadStream(real));
      cache.set(p.rel, staged);
      return staged;
    },
  };
}

/** Read a staged JSON document (refusing documents over `limit` bytes) as text. */
export async function readStagedText(staged: StagedFile, what: string, limit = 16 * 1024 * 1024): Promise<string> {
  if (staged.size > limit) throw new ImageError(`read ${what}: larger than ${limit} bytes`, 'IMAGE_INVALID');
  return fs.readFile(staged.file, 'utf8');
}
