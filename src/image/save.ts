/**
 * `save`: images of the store as one tarball, streamed from the blobs (no layer is held in
 * memory), to a file (atomically: a temp file next to it, renamed when complete) or a stream.
 *
 * - `docker-archive` is the layout of Docker 25+ `docker save`: an OCI image layout (`oci-layout`,
 *   `index.json`, `blobs/sha256/…`) plus `manifest.json` and `repositories`, with every layer
 *   stored uncompressed (its blob digest is its diff ID) as legacy docker-archive readers expect.
 *   Compressed layers are decompressed twice: once to learn their size for the tar header (and
 *   check them against the diff ID), once while writing. Names are full references (`RepoTags`
 *   `docker.io/library/busybox:latest`), which docker, podman and skopeo all read as meant.
 * - `oci-archive` is an OCI image layout with the store's blobs as they are (same manifest
 *   digests), one `index.json` entry per name, annotated with the full reference.
 */
import { createReadStream, createWriteStream, promises as fs } from 'node:fs';
import type { Readable } from 'node:stream';
import { Writable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { tempPathNextTo } from '../core/atomic.js';
import { describeSysError, ImageError, InvalidArgumentError, NestboxError, NotFoundError } from '../core/errors.js';
import { ArchiveWriter } from './archive-writer.js';
import type { BlobStore } from './blobs.js';
import { openUncompressed } from './compression.js';
import { DigestMeter, sha256Digest, sha256Hex } from './digest.js';
import type { IndexData, IndexFile, StoredImage } from './index-file.js';
import { lookupImage } from './lookup.js';
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, MEDIA, parseJson, type Descriptor, type Index, type Manifest } from './oci.js';
import { parseReference } from './reference.js';

export const SAVE_FORMATS = ['docker-archive', 'oci-archive'] as const;
export type SaveFormat = (typeof SAVE_FORMATS)[number];

export interface SaveContext {
  blobs: BlobStore;
  index: IndexFile;
}

export interface SaveOptions {
  format?: SaveFormat;
  /** Abort the write; a file destination is then removed. */
  signal?: AbortSignal;
}

/** An image to save with the (normalised) names to give it in the archive. */
interface Selected {
  image: StoredImage;
  tags: string[];
}

/** One file of the archive: bytes in memory (small JSON) or a store blob, possibly decompressed on the way. */
type Planned = { name: string; size: number } & ({ data: Buffer } | { file: string; decompress: boolean; subject: string });

/** Write the images `refs` name to `file`; on any failure nothing is left at `file` or next to it. */
export async function saveToFile(ctx: SaveContext, refs: string[], file: string, options: SaveOptions = {}): Promise<void> {
  const st = await fs.stat(file).catch(() => undefined);
  if (st?.isDirectory()) throw new InvalidArgumentError(`save to \`${file}\`: it is a directory; name a file`);
  const plan = await planArchive(ctx, refs, options.format ?? 'docker-archive');
  const tmp = tempPathNextTo(file);
  try {
    // `flush`: the bytes are on disk before the rename makes the file appear
    const dest = createWriteStream(tmp, { flags: 'wx', mode: 0o644, flush: true });
    await new Promise<void>((resolve, reject) => dest.once('open', () => resolve()).once('error', (err) => reject(new ImageError(describeSysError('create', tmp, err), 'SAVE_FAILED'))));
    await writeArchive(plan, new ArchiveWriter(dest, options.signal ? { signal: options.signal } : {}));
    await fs.rename(tmp, file);
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw abortedOr(options.signal, saveError(err, file));
  }
}

/** Write the images `refs` name to `out` (left open), e.g. stdout. Nothing is written if a ref is unknown. */
export async function saveToStream(ctx: SaveContext, refs: string[], out: Writable, options: SaveOptions = {}): Promise<void> {
  const plan = await planArchive(ctx, refs, options.format ?? 'docker-archive');
  try {
    await writeArchive(plan, new ArchiveWriter(out, { end: false, ...(options.signal ? { signal: options.signal } : {}) }));
  } catch (err) {
    throw abortedOr(options.signal, saveError(err, 'stdout'));
  }
}

/** After an abort, whatever broke while stopping (the tar packer, a stream) is the abort itself. */
function abortedOr(signal: AbortSignal | undefined, err: unknown): unknown {
  if (!signal?.aborted) return err;
  return signal.reason instanceof Error && signal.reason.name === 'AbortError' ? signal.reason : new DOMException('The operation was aborted', 'AbortError');
}

/** A system error while writing (closed pipe, full disk) as a message naming the operation and the subject. */
function saveError(err: unknown, dest: string): unknown {
  const e = err as NodeJS.ErrnoException;
  if (err instanceof NestboxError || typeof e?.syscall !== 'string') return err;
  const why = e.code === 'EPIPE' ? 'broken pipe (the reader went away)' : e.code === 'ENOSPC' ? 'no space left on device' : e.message;
  return new ImageError(`save: ${e.syscall} \`${e.path ?? dest}\`: ${why}`, 'SAVE_FAILED', { cause: err });
}

async function writeArchive(plan: Planned[], writer: ArchiveWriter): Promise<void> {
  try {
    await writer.directory('blobs/');
    await writer.directory('blobs/sha256/');
    for (const f of plan) await writer.file(f.name, f.size, 'data' in f ? f.data : await openPlanned(f));
    await writer.finish();
  } catch (err) {
    writer.abort(err as Error);
    throw err;
  }
}

async function openPlanned(f: Extract<Planned, { file: string }>): Promise<Readable[]> {
  return f.decompress ? openUncompressed(f.file, f.subject) : [createReadStream(f.file)];
}

/** Everything the archive will hold, decided (and every blob checked present) before a byte is written. */
async function planArchive(ctx: SaveContext, refs: string[], format: SaveFormat): Promise<Planned[]> {
  if (refs.length === 0) throw new InvalidArgumentError('save: name at least one image');
  if (!SAVE_FORMATS.includes(format)) throw new InvalidArgumentError(`invalid format "${String(format)}": use ${SAVE_FORMATS.join(' or ')}`);
  const selected = selectImages(await ctx.index.read(), refs);
  return format === 'docker-archive' ? dockerPlan(ctx, selected) : ociPlan(ctx, selected);
}

/**
 * Docker's rules: a name without tag or digest (`busybox`) means every tag of that repository;
 * a tag saves that name; an ID or digest saves the image without names. Each image once.
 */
export function selectImages(data: IndexData, refs: string[]): Selected[] {
  const out = new Map<string, Selected>();
  const add = (image: StoredImage, tags: string[]) => {
    const s = out.get(image.id) ?? { image, tags: [] };
    for (const t of tags) if (!s.tags.includes(t)) s.tags.push(t);
    out.set(image.id, s);
  };
  for (const input of refs) {
    const repo = bareRepository(input);
    const inRepo = repo === undefined ? [] : Object.values(data.images).flatMap((img) => img.repoTags.filter((t) => t.startsWith(`${repo}:`)).map((t) => ({ img, t })));
    if (inRepo.length > 0) {
      for (const { img, t } of inRepo) add(img, [t]);
      continue;
    }
    const found = lookupImage(data, input);
    if (found === undefined) throw new NotFoundError('image', input);
    add(found.image, found.by === 'tag' ? [found.ref] : []);
  }
  return [...out.values()];
}

/** `busybox` → `docker.io/library/busybox`; undefined when the input has a tag or digest, or is no name. */
function bareRepository(input: string): string | undefined {
  if (input.includes('@') || input.lastIndexOf(':') > input.lastIndexOf('/')) return undefined;
  try {
    return parseReference(input).name;
  } catch {
    return undefined;
  }
}

const blobName = (digest: string) => `blobs/sha256/${hexOf(digest)}`;

function hexOf(digest: string): string {
  const hex = sha256Hex(digest);
  if (hex === undefined) throw new ImageError(`save: unsupported digest \`${digest}\` in the image store`, 'IMAGE_STORE_CORRUPT');
  return hex;
}

function jsonFile(name: string, value: unknown): Planned {
  const data = Buffer.from(JSON.stringify(value));
  return { name, size: data.length, data };
}

async function storeBlob(ctx: SaveContext, digest: string, what: string): Promise<Planned> {
  const file = ctx.blobs.path(digest);
  const st = await fs.stat(file).catch((err: NodeJS.ErrnoException) => {
    throw new ImageError(`save: ${what} ${digest} is ${err.code === 'ENOENT' ? 'missing from the image store' : `unreadable (${err.message})`}; remove the image and load it again`, 'IMAGE_STORE_CORRUPT');
  });
  return { name: blobName(digest), size: st.size, file, decompress: false, subject: `${what} ${digest}` };
}

/** One index.json entry per name (full reference in both annotations), or one without names. */
function indexEntries(desc: Descriptor, tags: string[]): Descriptor[] {
  if (tags.length === 0) return [desc];
  return tags.map((t) => ({ ...desc, annotations: { [ANNOTATION_CONTAINERD_NAME]: t, [ANNOTATION_REF_NAME]: t } }));
}

const OCI_LAYOUT = jsonFile('oci-layout', { imageLayoutVersion: '1.0.0' });

async function ociPlan(ctx: SaveContext, selected: Selected[]): Promise<Planned[]> {
  const files = new Map<string, Planned>();
  const manifests: Descriptor[] = [];
  for (const { image, tags } of selected) {
    const manifest = await storeBlob(ctx, image.manifestDigest, 'manifest');
    const parsed = parseJson(await ctx.blobs.read(image.manifestDigest), `manifest ${image.manifestDigest}`) as Partial<Manifest>;
    files.set(manifest.name, manifest);
    const config = await storeBlob(ctx, image.id, 'config');
    files.set(config.name, config);
    for (const layer of image.layers) {
      const blob = await storeBlob(ctx, layer.digest, 'layer');
      files.set(blob.name, blob);
    }
    const desc: Descriptor = {
      mediaType: parsed.mediaType ?? MEDIA.ociManifest,
      digest: image.manifestDigest,
      size: manifest.size,
      platform: { architecture: image.architecture, os: image.os },
    };
    manifests.push(...indexEntries(desc, tags));
  }
  const index: Index = { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests };
  return [...files.values(), jsonFile('index.json', index), OCI_LAYOUT];
}

interface DockerManifestEntry {
  Config: string;
  RepoTags: string[] | null;
  Layers: string[];
}

async function dockerPlan(ctx: SaveContext, selected: Selected[]): Promise<Planned[]> {
  const files = new Map<string, Planned>();
  const manifests: Descriptor[] = [];
  const entries: DockerManifestEntry[] = [];
  const repositories: Record<string, Record<string, string>> = {};
  for (const { image, tags } of selected) {
    const config = await storeBlob(ctx, image.id, 'config');
    files.set(config.name, config);
    const layers: Descriptor[] = [];
    for (const [i, layer] of image.layers.entries()) {
      const diffId = image.diffIds[i];
      if (diffId === undefined) throw new ImageError(`save: image ${image.id} has more layers than diff IDs; remove it and load it again`, 'IMAGE_STORE_CORRUPT');
      const name = blobName(diffId);
      const planned = files.get(name) ?? (await uncompressedLayer(ctx, layer, diffId));
      files.set(name, planned);
      layers.push({ mediaType: MEDIA.ociLayer, digest: diffId, size: planned.size });
    }
    const manifest: Manifest = {
      schemaVersion: 2,
      mediaType: MEDIA.ociManifest,
      config: { mediaType: MEDIA.ociConfig, digest: image.id, size: config.size },
      layers,
    };
    const bytes = Buffer.from(JSON.stringify(manifest));
    const digest = sha256Digest(bytes);
    files.set(blobName(digest), { name: blobName(digest), size: bytes.length, data: bytes });
    manifests.push(...indexEntries({ mediaType: MEDIA.ociManifest, digest, size: bytes.length, platform: { architecture: image.architecture, os: image.os } }, tags));
    // full names: podman would put a familiar `busybox:latest` under `localhost/`; docker reads either
    entries.push({ Config: config.name, RepoTags: tags.length ? tags : null, Layers: layers.map((l) => blobName(l.digest)) });
    const top = image.diffIds.at(-1);
    for (const t of tags) {
      const at = t.lastIndexOf(':');
      if (top !== undefined) (repositories[t.slice(0, at)] ??= {})[t.slice(at + 1)] = hexOf(top);
    }
  }
  const index: Index = { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests };
  return [
    ...files.values(),
    jsonFile('index.json', index),
    jsonFile('manifest.json', entries),
    OCI_LAYOUT,
    ...(Object.keys(repositories).length ? [jsonFile('repositories', repositories)] : []),
  ];
}

/** The layer as an uncompressed tar named by its diff ID; a compressed blob is measured (and checked) first. */
async function uncompressedLayer(ctx: SaveContext, layer: Descriptor, diffId: string): Promise<Planned> {
  const stored = await storeBlob(ctx, layer.digest, 'layer');
  if (layer.digest === diffId) return stored;
  const file = ctx.blobs.path(layer.digest);
  const subject = `layer ${layer.digest}`;
  const meter = new DigestMeter();
  const sink = new Writable({ write: (_chunk, _enc, done) => done() });
  await pipeline([...(await openUncompressed(file, subject)), meter, sink]);
  if (meter.digest() !== diffId) {
    throw new ImageError(`save: ${subject} uncompresses to ${meter.digest()}, not its diff ID ${diffId}; remove the image and load it again`, 'IMAGE_STORE_CORRUPT');
  }
  return { name: blobName(diffId), size: meter.bytes, file, decompress: true, subject };
}
