/**
 * Write an OCI image (layers given as tar bytes) as an OCI image layout: a directory or an
 * oci-archive tarball. Reproducible: same input, same digests. Used to build the embedded
 * default image and, in tests, hand-made (also hostile) images.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { gzipSync } from 'node:zlib';
import { chainIdOf, sha256Digest } from './digest.js';
import { ANNOTATION_CONTAINERD_NAME, ANNOTATION_REF_NAME, MEDIA, type Descriptor, type ImageConfig, type Index, type Manifest } from './oci.js';
import { normaliseReference } from './reference.js';
import { packTar, type PackEntry } from './tar-write.js';
import type { ImageRunConfig } from './types.js';

/** A layer blob given as is, with the diff ID the config should claim for it (tests use this). */
export interface RawLayer {
  blob: Uint8Array;
  diffId: string;
  mediaType?: string;
}

export interface OciImageSpec {
  /** Uncompressed layer tarballs (compressed here when `gzip`), or raw blobs; bottom first. */
  layers: (Uint8Array | RawLayer)[];
  gzip?: boolean;
  config?: ImageRunConfig;
  architecture?: string;
  os?: string;
  created?: string;
  history?: unknown[];
  /** Full or short reference; written as `io.containerd.image.name` + `org.opencontainers.image.ref.name` (the tag). */
  name?: string;
}

export interface OciImageBlobs {
  blobs: Map<string, Buffer>;
  index: Index;
  manifestDigest: string;
  configDigest: string;
  diffIds: string[];
  chainId: string;
}

export function makeOciImage(spec: OciImageSpec): OciImageBlobs {
  const blobs = new Map<string, Buffer>();
  const put = (bytes: Buffer, mediaType: string): Descriptor => {
    const digest = sha256Digest(bytes);
    blobs.set(digest, bytes);
    return { mediaType, digest, size: bytes.length };
  };
  const diffIds = spec.layers.map((l) => ('blob' in l ? l.diffId : sha256Digest(l)));
  const layers = spec.layers.map((l) => {
    if ('blob' in l) return put(Buffer.from(l.blob), l.mediaType ?? MEDIA.ociLayer);
    return spec.gzip ?? true ? put(gzipSync(l, { level: 9 }), MEDIA.ociLayerGzip) : put(Buffer.from(l), MEDIA.ociLayer);
  });
  const config: ImageConfig = {
    ...(spec.created ? { created: spec.created } : {}),
    architecture: spec.architecture ?? 'amd64',
    os: spec.os ?? 'linux',
    config: spec.config ?? {},
    rootfs: { type: 'layers', diff_ids: diffIds },
    ...(spec.history ? { history: spec.history } : {}),
  };
  const configDesc = put(Buffer.from(JSON.stringify(config)), MEDIA.ociConfig);
  const manifest: Manifest = { schemaVersion: 2, mediaType: MEDIA.ociManifest, config: configDesc, layers };
  const manifestDesc: Descriptor = {
    ...put(Buffer.from(JSON.stringify(manifest)), MEDIA.ociManifest),
    platform: { architecture: config.architecture, os: config.os },
  };
  if (spec.name !== undefined) {
    const full = normaliseReference(spec.name);
    const tag = full.slice(full.lastIndexOf(':') + 1);
    manifestDesc.annotations = { [ANNOTATION_CONTAINERD_NAME]: full, [ANNOTATION_REF_NAME]: tag };
  }
  const index: Index = { schemaVersion: 2, mediaType: MEDIA.ociIndex, manifests: [manifestDesc] };
  return { blobs, index, manifestDigest: manifestDesc.digest, configDigest: configDesc.digest, diffIds, chainId: chainIdOf(diffIds) };
}

/** The image as an oci-archive tarball (bytes). */
export async function ociArchiveBytes(image: OciImageBlobs, mtime = new Date(0)): Promise<Buffer> {
  const entries: PackEntry[] = [
    { type: 'file', name: 'oci-layout', data: JSON.stringify({ imageLayoutVersion: '1.0.0' }) },
    { type: 'file', name: 'index.json', data: JSON.stringify(image.index) },
    { type: 'directory', name: 'blobs/' },
    { type: 'directory', name: 'blobs/sha256/' },
    ...[...image.blobs.keys()].sort().map((d): PackEntry => ({ type: 'file', name: `blobs/sha256/${d.slice(7)}`, data: image.blobs.get(d)! })),
  ];
  return packTar(entries, mtime);
}

/** The image as an OCI layout directory (created; must not exist). */
export async function writeOciLayoutDir(image: OciImageBlobs, dir: string): Promise<void> {
  await fs.mkdir(path.join(dir, 'blobs', 'sha256'), { recursive: true });
  await fs.writeFile(path.join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  await fs.writeFile(path.join(dir, 'index.json'), JSON.stringify(image.index));
  for (const [digest, bytes] of image.blobs) await fs.writeFile(path.join(dir, 'blobs', 'sha256', digest.slice(7)), bytes);
}
