/** The OCI (and Docker v2) JSON documents nestbox reads and writes, with checked parsing. */
import { ImageError } from '../core/errors.js';
import type { ImageRunConfig } from './types.js';
import { isSha256Digest } from './digest.js';

export const MEDIA = {
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayer: 'application/vnd.oci.image.layer.v1.tar',
  ociLayerGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
} as const;

export const ANNOTATION_REF_NAME = 'org.opencontainers.image.ref.name';
export const ANNOTATION_CONTAINERD_NAME = 'io.containerd.image.name';

export interface Platform {
  architecture: string;
  os: string;
  variant?: string;
}

export interface Descriptor {
  mediaType: string;
  digest: string;
  size: number;
  annotations?: Record<string, string>;
  platform?: Platform;
}

export interface Manifest {
  schemaVersion: 2;
  mediaType?: string;
  config: Descriptor;
  layers: Descriptor[];
  annotations?: Record<string, string>;
}

export interface Index {
  schemaVersion: 2;
  mediaType?: string;
  manifests: Descriptor[];
  annotations?: Record<string, string>;
}

export interface ImageConfig {
  architecture: string;
  os: string;
  created?: string;
  config?: ImageRunConfig;
  rootfs: { type: 'layers'; diff_ids: string[] };
  history?: unknown[];
}

export function isIndexMediaType(mediaType: string | undefined): boolean {
  return mediaType === MEDIA.ociIndex || mediaType === MEDIA.dockerList;
}

/** Parse JSON, turning a syntax error into an ImageError naming `what`. */
export function parseJson(bytes: Uint8Array | string, what: string): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : Buffer.from(bytes).toString('utf8'));
  } catch (err) {
    throw new ImageError(`parse ${what}: not valid JSON (${(err as Error).message})`);
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

export function checkDescriptor(v: unknown, what: string): Descriptor {
  if (!isObject(v) || typeof v.mediaType !== 'string' || typeof v.digest !== 'string' || typeof v.size !== 'number') {
    throw new ImageError(`parse ${what}: descriptor needs mediaType, digest and size`);
  }
  if (!isSha256Digest(v.digest)) throw new ImageError(`parse ${what}: unsupported digest \`${v.digest}\` (want sha256:<64 hex>)`);
  if (!Number.isSafeInteger(v.size) || v.size < 0) throw new ImageError(`parse ${what}: bad size ${v.size}`);
  return v as unknown as Descriptor;
}

export function checkManifest(v: unknown, what: string): Manifest {
  if (!isObject(v) || v.schemaVersion !== 2 || !Array.isArray(v.layers)) {
    throw new ImageError(`parse ${what}: not an image manifest (schemaVersion 2 with config and layers)`);
  }
  checkDescriptor(v.config, `${what} config`);
  v.layers.forEach((l, i) => checkDescriptor(l, `${what} layer ${i}`));
  return v as unknown as Manifest;
}

export function checkIndex(v: unknown, what: string): Index {
  if (!isObject(v) || v.schemaVersion !== 2 || !Array.isArray(v.manifests)) {
    throw new ImageError(`parse ${what}: not an image index (schemaVersion 2 with manifests)`);
  }
  v.manifests.forEach((m, i) => checkDescriptor(m, `${what} manifest ${i}`));
  return v as unknown as Index;
}

export function checkConfig(v: unknown, what: string): ImageConfig {
  if (!isObject(v) || !isObject(v.rootfs) || !Array.isArray(v.rootfs.diff_ids)) {
    throw new ImageError(`parse ${what}: image config has no rootfs.diff_ids`);
  }
  for (const d of v.rootfs.diff_ids) {
    if (typeof d !== 'string' || !isSha256Digest(d)) throw new ImageError(`parse ${what}: bad diff_id \`${String(d)}\``);
  }
  if (typeof v.architecture !== 'string' || typeof v.os !== 'string') {
    throw new ImageError(`parse ${what}: image config needs architecture and os`);
  }
  if (v.config !== undefined && v.config !== null && !isObject(v.config)) throw new ImageError(`parse ${what}: \`config\` is not an object`);
  return v as unknown as ImageConfig;
}

/** The run settings nestbox keeps from an image config (the rest stays in the config blob). */
export function runConfigOf(config: ImageConfig): ImageRunConfig {
  const c = (config.config ?? {}) as Record<string, unknown>;
  const out: ImageRunConfig = {};
  const strings = (v: unknown) => Array.isArray(v) && v.every((s) => typeof s === 'string');
  if (strings(c.Cmd)) out.Cmd = c.Cmd as string[];
  if (strings(c.Entrypoint)) out.Entrypoint = c.Entrypoint as string[];
  if (strings(c.Env)) out.Env = c.Env as string[];
  if (typeof c.WorkingDir === 'string' && c.WorkingDir !== '') out.WorkingDir = c.WorkingDir;
  if (typeof c.User === 'string' && c.User !== '') out.User = c.User;
  if (isObject(c.Labels)) out.Labels = c.Labels as Record<string, string>;
  if (isObject(c.ExposedPorts)) out.ExposedPorts = c.ExposedPorts as Record<string, object>;
  if (typeof c.StopSignal === 'string') out.StopSignal = c.StopSignal;
  return out;
}

/** Host platform in OCI terms (`x64` → `amd64`). */
export function hostPlatform(): Platform {
  const arch = ({ x64: 'amd64', arm64: 'arm64', arm: 'arm', ia32: '386', ppc64: 'ppc64le', s390x: 's390x', riscv64: 'riscv64' } as Record<string, string>)[process.arch] ?? process.arch;
  return { architecture: arch, os: 'linux' };
}
