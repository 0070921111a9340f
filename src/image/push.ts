/**
 * `push`: upload an image's blobs and manifest to the registry its reference names. The exact
 * manifest bytes the store holds are pushed, so the registry's digest is the local one (checked
 * against what the registry reports). Blobs the registry has are skipped; the rest upload in
 * parallel, streamed from the store. Like docker, the image must carry the reference locally.
 */
import { createReadStream } from 'node:fs';
import { ImageError, InvalidArgumentError, NotFoundError } from '../core/errors.js';
import { RegistryClient, type ClientOptions } from '../registry/client.js';
import type { BlobStore } from './blobs.js';
import type { IndexFile } from './index-file.js';
import { layerId } from './digest.js';
import { lookupImage } from './lookup.js';
import { MEDIA, parseJson, type Descriptor } from './oci.js';
import { familiar, formatReference, parseReference } from './reference.js';
import { forEachBounded } from '../core/parallel.js';

export type PushEvent =
  | { kind: 'start'; ref: string; tag: string }
  | { kind: 'layer'; id: string; status: 'Preparing' | 'Waiting' | 'Pushing' | 'Pushed' | 'Layer already exists'; current?: number; total?: number }
  | { kind: 'done'; ref: string; tag: string; digest: string; size: number };

export interface PushOptions extends ClientOptions {
  onEvent?: (e: PushEvent) => void;
  /** Parallel blob uploads (default 3). */
  concurrency?: number;
}

export interface PushResult {
  ref: string;
  digest: string;
  size: number;
}

export interface PushContext {
  blobs: BlobStore;
  index: IndexFile;
}

export async function pushImage(ctx: PushContext, input: string, options: PushOptions = {}): Promise<PushResult> {
  const ref = parseReference(input);
  if (ref.digest !== undefined) throw new InvalidArgumentError(`push \`${input}\`: push a tag, not a digest (tag the image with \`nestbox tag\` first)`);
  const refText = formatReference(ref);
  const emit = options.onEvent ?? (() => undefined);
  const found = lookupImage(await ctx.index.read(), refText);
  if (found === undefined || found.by !== 'tag') {
    throw new NotFoundError('image', familiar(refText), `tag an image with this name first: nestbox tag IMAGE ${familiar(refText)}`);
  }
  const image = found.image;
  const manifestBytes = await ctx.blobs.read(image.manifestDigest);
  const manifestJson = parseJson(manifestBytes, `manifest ${image.manifestDigest}`) as { mediaType?: unknown; config?: Descriptor };
  const mediaType =
    typeof manifestJson.mediaType === 'string'
      ? manifestJson.mediaType
      : manifestJson.config?.mediaType === 'application/vnd.docker.container.image.v1+json' ? MEDIA.dockerManifest : MEDIA.ociManifest;
  const config: Descriptor = manifestJson.config ?? { mediaType: MEDIA.ociConfig, digest: image.id, size: (await ctx.blobs.read(image.id)).length };
  const blobs = [...new Map([...image.layers, config].map((d) => [d.digest, d])).values()];
  for (const d of blobs) {
    if (!(await ctx.blobs.has(d.digest))) throw new ImageError(`push ${familiar(refText)}: blob ${d.digest} is missing from the store; pull or load the image again`);
  }

  emit({ kind: 'start', ref: refText, tag: ref.tag! });
  const client = await RegistryClient.open(ref, options);
  for (const d of blobs) emit({ kind: 'layer', id: layerId(d.digest), status: 'Preparing' });
  await forEachBounded(blobs, options.concurrency ?? 3, async (d) => {
    const id = layerId(d.digest);
    if (await client.hasBlob(d.digest)) {
      emit({ kind: 'layer', id, status: 'Layer already exists' });
      return;
    }
    const file = ctx.blobs.path(d.digest);
    await client.upload(d.digest, d.size, () => progressBody(file, (current) => emit({ kind: 'layer', id, status: 'Pushing', current, total: d.size })));
    emit({ kind: 'layer', id, status: 'Pushed' });
  });

  const digest = await client.putManifest(ref.tag!, manifestBytes, mediaType);
  await ctx.index.update(async (data) => {
    const stored = data.images[image.id];
    if (stored === undefined) return { changed: false, result: undefined };
    const repoDigest = `${ref.name}@${digest}`;
    if ((stored.repoDigests ??= []).includes(repoDigest)) return { changed: false, result: undefined };
    stored.repoDigests.push(repoDigest);
    return { changed: true, result: undefined };
  });
  emit({ kind: 'done', ref: refText, tag: ref.tag!, digest, size: manifestBytes.length });
  return { ref: refText, digest, size: manifestBytes.length };
}

/** The file's bytes as an async iterable request body, reporting bytes sent. */
async function* progressBody(file: string, onProgress: (sent: number) => void): AsyncGenerator<Uint8Array> {
  let sent = 0;
  let last = 0;
  for await (const chunk of createReadStream(file, { highWaterMark: 256 * 1024 })) {
    sent += (chunk as Buffer).length;
    if (Date.now() - last > 100) {
      last = Date.now();
      onProgress(sent);
    }
    yield chunk as Buffer;
  }
  onProgress(sent);
}
