/**
 * `load`: docker-archive tarballs, oci-archive tarballs and OCI layout directories. Everything is
 * staged and verified (blob digests; each layer's uncompressed digest against the config's
 * `rootfs.diff_ids`; every layer entry, by unpacking) before anything enters the store; then
 * blobs and index change together under the store lock. A failed load leaves nothing behind.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { ImageError, NotFoundError } from '../core/errors.js';
import { openDirSource, openTarSource, type ArchiveSource } from './archive-source.js';
import type { ImageCandidate } from './candidate.js';
import { commitCandidates, installUnpacked, recordOf, verifyCandidate, type CommitContext, type CommittedImage, type UnpackedChains } from './commit.js';
import { dockerCandidates } from './docker-archive.js';
import type { StoredImage } from './index-file.js';
import { ociCandidates } from './oci-layout.js';
import { Staging } from './staging.js';

export type LoadContext = CommitContext;
/** A loaded image, with the references this archive gave it (the image may have others). */
export type LoadedImage = CommittedImage;

export async function loadImages(ctx: LoadContext, file: string): Promise<LoadedImage[]> {
  const st = await fs.stat(file).catch((err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') throw new NotFoundError('file', file);
    throw err;
  });
  await ctx.layout.prepare();
  const staging = new Staging(await ctx.layout.makeTempDir('load'));
  const label = `\`${file}\``;
  try {
    const src = st.isDirectory() ? await openDirSource(file, staging) : await openTarSource(file, staging, ctx.maxBytes);
    const candidates = await candidatesOf(src, staging);
    const images: StoredImage[] = [];
    const unpacked: UnpackedChains = new Map();
    const present = (await ctx.index.read()).images;
    for (const c of candidates) {
      // Same config digest (already verified) means same diff_ids and rootfs: only the tags are new.
      const known = present[c.config.digest];
      images.push(known ? recordOf(c, known.size) : await verifyCandidate(ctx, `load ${src.label}`, staging, c, unpacked));
    }
    const records = await commitCandidates(ctx, candidates, images);
    await installUnpacked(ctx, unpacked);
    return records;
  } catch (err) {
    if (err instanceof ImageError && !err.message.startsWith('load `')) throw new ImageError(`load ${label}: ${err.message}`, err.code, { cause: err });
    throw err;
  } finally {
    await staging.remove();
  }
}

async function candidatesOf(src: ArchiveSource, staging: Staging): Promise<ImageCandidate[]> {
  const dockerManifest = await src.get('manifest.json');
  if (dockerManifest !== undefined) return dockerCandidates(src, staging, dockerManifest);
  if ((await src.get('oci-layout')) !== undefined) return ociCandidates(src);
  throw new ImageError(`load ${src.label}: not a docker-archive or OCI image layout (no manifest.json, no oci-layout)`);
}
