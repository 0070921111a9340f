/**
 * `pull`: fetch an image from a registry into the store. The manifest (through an index to the
 * wanted platform) and config are verified against their digests; layers download in parallel
 * into downloads/ (resumable, verified as they stream), each under a per-blob lock so concurrent
 * pulls of one layer download it once; then the image is unpacked in staging (checking
 * `rootfs.diff_ids`, hostile entries and the size bound) and committed like `load`. A failed
 * pull lists no image and keeps only verified or resumable downloads.
 */
import * as path from 'node:path';
import { promises as fs } from 'node:fs';
import { Lock } from '../core/lock.js';
import { ImageError } from '../core/errors.js';
import { RegistryClient, type ClientOptions } from '../registry/client.js';
import { choosePlatform, formatPlatform, hostPlatform } from '../registry/platform.js';
import type { ImageCandidate } from './candidate.js';
import { commitCandidates, installUnpacked, recordOf, verifyCandidate, type CommitContext, type UnpackedChains } from './commit.js';
import { downloadBlob } from './blob-download.js';
import { layerId, sha256Digest } from './digest.js';
import { checkConfig, checkIndex, checkManifest, isIndexMediaType, MEDIA, parseJson, type Descriptor, type Manifest, type Platform } from './oci.js';
import { formatReference, parseReference, type ImageReference } from './reference.js';
import { Staging } from './staging.js';
import type { ImageRecord } from './types.js';
import { forEachBounded } from '../core/parallel.js';

const MAX_CONFIG_BYTES = 8 * 1024 * 1024;
const MAX_LAYERS = 256;
/** Waiting for another pull of the same layer may take as long as that download. */
const BLOB_LOCK_TIMEOUT_MS = 6 * 60 * 60 * 1000;

const LAYER_TYPES = new Set<string>([
  MEDIA.ociLayer,
  MEDIA.ociLayerGzip,
  `${MEDIA.ociLayer}+zstd`,
  'application/vnd.docker.image.rootfs.diff.tar.gzip',
  'application/vnd.docker.image.rootfs.diff.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar',
  'application/vnd.oci.image.layer.nondistributable.v1.tar+gzip',
  'application/vnd.docker.image.rootfs.foreign.diff.tar.gzip',
]);
const CONFIG_TYPES = new Set<string>([MEDIA.ociConfig, 'application/vnd.docker.container.image.v1+json']);

export type LayerStatus = 'Waiting' | 'Already exists' | 'Downloading' | 'Resuming' | 'Download complete' | 'Verifying' | 'Pull complete';

export type PullEvent =
  | { kind: 'start'; ref: string; tagOrDigest: string; layers: { id: string; size: number }[] }
  | { kind: 'layer'; id: string; status: LayerStatus; current?: number; total?: number }
  | { kind: 'done'; ref: string; digest: string; upToDate: boolean };

export interface PullOptions extends ClientOptions {
  /** Wanted platform (default the host's); an explicit one must match the image config. */
  platform?: Platform;
  onEvent?: (e: PullEvent) => void;
  /** Parallel layer downloads (default 3). */
  concurrency?: number;
}

export interface PullResult {
  image: ImageRecord;
  /** Normalised reference pulled: `docker.io/library/alpine:latest` or `…@sha256:…`. */
  ref: string;
  /** Digest of the manifest or index the reference named. */
  digest: string;
  upToDate: boolean;
}

export async function pullImage(ctx: CommitContext, input: string, options: PullOptions = {}): Promise<PullResult> {
  const ref = parseReference(input);
  const refText = formatReference(ref);
  const label = `pull ${refText}`;
  try {
    return await pull(ctx, ref, refText, options);
  } catch (err) {
    if (err instanceof ImageError && !err.message.startsWith('pull ')) throw new ImageError(`${label}: ${err.message}`, err.code, { cause: err });
    throw err;
  }
}

async function pull(ctx: CommitContext, ref: ImageReference, refText: string, options: PullOptions): Promise<PullResult> {
  const emit = options.onEvent ?? (() => undefined);
  const want = options.platform ?? hostPlatform();
  const client = await RegistryClient.open(ref, options);
  const top = await client.manifest(ref.digest ?? ref.tag!);
  const { manifest, manifestBytes, manifestDigest } = await resolveManifest(client, top, refText, want);
  const layers = manifest.layers;
  if (layers.length > MAX_LAYERS) throw new ImageError(`manifest ${manifestDigest} has ${layers.length} layers, more than the ${MAX_LAYERS} allowed`);
  checkMediaTypes(manifest, manifestDigest);

  await ctx.layout.prepare();
  const staging = new Staging(await ctx.layout.makeTempDir('pull'));
  const locks: Lock[] = [];
  try {
    const configBytes = await fetchConfig(ctx, client, manifest.config);
    const configJson = checkConfig(parseJson(configBytes, `config ${manifest.config.digest}`), `config ${manifest.config.digest}`);
    if (configJson.rootfs.diff_ids.length !== layers.length) {
      throw new ImageError(`image ${manifest.config.digest}: the manifest has ${layers.length} layers but the config lists ${configJson.rootfs.diff_ids.length} diff_ids`);
    }
    if (options.platform && (configJson.os !== want.os || configJson.architecture !== want.architecture)) {
      throw new ImageError(`image ${refText} is ${configJson.os}/${configJson.architecture}, not the requested ${formatPlatform(want)}`, 'IMAGE_PLATFORM_MISMATCH');
    }
    emit({ kind: 'start', ref: refText, tagOrDigest: ref.digest ?? ref.tag!, layers: layers.map((l) => ({ id: layerId(l.digest), size: l.size })) });

    // Lock every layer we may download, in digest order so two pulls never wait on each other in a cycle.
    const missing: Descriptor[] = [];
    for (const l of layers) if (!(await ctx.blobs.has(l.digest)) && !missing.some((m) => m.digest === l.digest)) missing.push(l);
    for (const l of [...missing].sort((a, b) => a.digest.localeCompare(b.digest))) {
      locks.push(await Lock.acquire(ctx.layout.lockScope, `blob:${l.digest}`, BLOB_LOCK_TIMEOUT_MS));
    }

    const files = await downloadLayers(ctx, client, layers, options.concurrency ?? 3, emit);
    const candidate: ImageCandidate = {
      manifest: await staging.stageBytes(manifestBytes),
      config: await staging.stageBytes(configBytes),
      configJson,
      layers: layers.map((descriptor, i) => ({ descriptor, staged: { file: files[i]!, digest: descriptor.digest, size: descriptor.size } })),
      tags: ref.tag !== undefined && ref.digest === undefined ? [refText] : [],
      repoDigests: [`${ref.name}@${top.digest}`],
    };
    const known = (await ctx.index.read()).images[manifest.config.digest];
    const unpacked: UnpackedChains = new Map();
    let stored;
    if (known) {
      stored = recordOf(candidate, known.size);
    } else {
      for (const l of layers) emit({ kind: 'layer', id: layerId(l.digest), status: 'Verifying' });
      stored = await verifyCandidate(ctx, `image ${manifest.config.digest}`, staging, candidate, unpacked).catch(async (err: unknown) => {
        // A layer whose content contradicts the config is not kept for a later pull.
        await dropDownloads(ctx, layers, /layer sha256:([0-9a-f]{12})/.exec((err as Error).message)?.[1]);
        throw err;
      });
    }
    const upToDate = known !== undefined && known.repoTags.some((t) => candidate.tags.includes(t)) && known.manifestDigest === manifestDigest;
    const [image] = await commitCandidates(ctx, [candidate], [stored]);
    await installUnpacked(ctx, unpacked);
    await dropDownloads(ctx, layers);
    for (const l of layers) emit({ kind: 'layer', id: layerId(l.digest), status: 'Pull complete' });
    emit({ kind: 'done', ref: refText, digest: top.digest, upToDate });
    return { image: image!, ref: refText, digest: top.digest, upToDate };
  } finally {
    await staging.remove();
    for (const lock of locks) await lock.release();
  }
}

/** Follow an index to the manifest for `want`; every manifest's digest was checked on fetch. */
async function resolveManifest(client: RegistryClient, top: Awaited<ReturnType<RegistryClient['manifest']>>, refText: string, want: Platform) {
  let current = top;
  for (let depth = 0; depth < 3; depth++) {
    const json = parseJson(current.bytes, `manifest ${current.digest}`) as { mediaType?: unknown; manifests?: unknown };
    const mediaType = typeof json?.mediaType === 'string' ? json.mediaType : current.mediaType;
    if (isIndexMediaType(mediaType) || (mediaType === undefined && Array.isArray(json?.manifests))) {
      const index = checkIndex(json, `index ${current.digest}`);
      const chosen = choosePlatform(index.manifests, want, `image ${refText}`);
      const next = await client.manifest(chosen.digest);
      if (next.bytes.length !== chosen.size) throw new ImageError(`manifest ${chosen.digest}: ${next.bytes.length} bytes, the index says ${chosen.size}`, 'IMAGE_DIGEST_MISMATCH');
      current = next;
      continue;
    }
    if (mediaType !== undefined && mediaType !== MEDIA.ociManifest && mediaType !== MEDIA.dockerManifest) {
      throw new ImageError(`${refText} is not a container image: manifest media type \`${mediaType}\` (schema 1 and artifacts are not supported)`, 'IMAGE_UNSUPPORTED');
    }
    return { manifest: checkManifest(json, `manifest ${current.digest}`), manifestBytes: current.bytes, manifestDigest: current.digest };
  }
  throw new ImageError(`${refText}: image indexes nested too deep`);
}

function checkMediaTypes(manifest: Manifest, digest: string): void {
  if (!CONFIG_TYPES.has(manifest.config.mediaType)) {
    throw new ImageError(`manifest ${digest} is not a container image: config media type \`${manifest.config.mediaType}\``, 'IMAGE_UNSUPPORTED');
  }
  for (const l of manifest.layers) {
    if (!LAYER_TYPES.has(l.mediaType)) throw new ImageError(`layer ${l.digest}: unsupported media type \`${l.mediaType}\``, 'IMAGE_UNSUPPORTED');
  }
}

async function fetchConfig(ctx: CommitContext, client: RegistryClient, desc: Descriptor): Promise<Buffer> {
  if (await ctx.blobs.has(desc.digest)) return ctx.blobs.read(desc.digest);
  if (desc.size > MAX_CONFIG_BYTES) throw new ImageError(`config ${desc.digest} is ${desc.size} bytes, more than the ${MAX_CONFIG_BYTES} allowed`);
  const { open } = await client.blob(desc.digest);
  const bytes = await client.transport.readAll(open, MAX_CONFIG_BYTES, `config ${desc.digest}`);
  if (bytes.length !== desc.size || sha256Digest(bytes) !== desc.digest) {
    throw new ImageError(`config ${desc.digest}: digest mismatch: the registry sent ${bytes.length} bytes hashing to ${sha256Digest(bytes)}; nothing of it was kept`, 'IMAGE_DIGEST_MISMATCH');
  }
  return bytes;
}

/** Every layer as a file: the store's blob, or a verified download. Runs `concurrency` at a time. */
async function downloadLayers(
  ctx: CommitContext,
  client: RegistryClient,
  layers: Descriptor[],
  concurrency: number,
  emit: (e: PullEvent) => void,
): Promise<string[]> {
  const files: string[] = new Array(layers.length);
  const byDigest = new Map<string, Promise<string>>();
  for (const l of layers) emit({ kind: 'layer', id: layerId(l.digest), status: 'Waiting' });
  await forEachBounded(layers, concurrency, async (l, i) => {
    const id = layerId(l.digest);
    let job = byDigest.get(l.digest);
    if (job === undefined) {
      job = (async () => {
        if (await ctx.blobs.has(l.digest)) {
          emit({ kind: 'layer', id, status: 'Already exists' });
          return ctx.blobs.path(l.digest);
        }
        const file = await downloadBlob(client, ctx.layout.downloads, l, (current, total, resumed) =>
          emit({ kind: 'layer', id, status: resumed ? 'Resuming' : 'Downloading', current, total }));
        emit({ kind: 'layer', id, status: 'Download complete' });
        return file;
      })();
      byDigest.set(l.digest, job);
    }
    files[i] = await job;
  });
  return files;
}

/** Remove committed (or, with `onlyShort`, one rejected) layers' files from downloads/. */
async function dropDownloads(ctx: CommitContext, layers: Descriptor[], onlyShort?: string): Promise<void> {
  for (const l of layers) {
    if (onlyShort !== undefined && !l.digest.startsWith(`sha256:${onlyShort}`)) continue;
    await fs.rm(path.join(ctx.layout.downloads, l.digest.slice('sha256:'.length)), { force: true });
  }
}
