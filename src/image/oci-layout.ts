/**
 * Images of an OCI image layout (oci-archive tarball or directory): `oci-layout`, `index.json`,
 * `blobs/sha256/…`. Nested indexes (multi-platform) resolve to the host's platform. Names come
 * from `io.containerd.image.name`, else from `org.opencontainers.image.ref.name` when that is a
 * full reference (a bare tag such as `latest` leaves the image untagged).
 */
import { ImageError } from '../core/errors.js';
import type { ArchiveSource } from './archive-source.js';
import { blobFor, normaliseArchiveTag, readConfig, readJsonFile, type ImageCandidate } from './candidate.js';
import {
  ANNOTATION_CONTAINERD_NAME,
  ANNOTATION_REF_NAME,
  checkIndex,
  checkManifest,
  hostPlatform,
  isIndexMediaType,
  type Descriptor,
} from './oci.js';

const MAX_INDEX_DEPTH = 4;

export async function ociCandidates(src: ArchiveSource): Promise<ImageCandidate[]> {
  const layoutFile = await src.get('oci-layout');
  if (layoutFile === undefined) throw new ImageError(`load ${src.label}: not an OCI image layout (no oci-layout file)`);
  const layout = (await readJsonFile(layoutFile, 'oci-layout')) as { imageLayoutVersion?: unknown } | null;
  if (typeof layout?.imageLayoutVersion !== 'string') throw new ImageError(`load ${src.label}: oci-layout has no imageLayoutVersion`);
  const indexFile = await src.get('index.json');
  if (indexFile === undefined) throw new ImageError(`load ${src.label}: OCI image layout without index.json`);
  const index = checkIndex(await readJsonFile(indexFile, 'index.json'), 'index.json');
  if (index.manifests.length === 0) throw new ImageError(`load ${src.label}: index.json lists no images`);
  const out: ImageCandidate[] = [];
  for (const desc of index.manifests) {
    const manifestDesc = await pickManifest(src, desc, 0);
    out.push(await candidateOf(src, manifestDesc, tagsOf(src, desc.annotations)));
  }
  return out;
}

function tagsOf(src: ArchiveSource, annotations: Record<string, string> | undefined): string[] {
  const full = annotations?.[ANNOTATION_CONTAINERD_NAME];
  if (full) return [normaliseArchiveTag(src, full)];
  const ref = annotations?.[ANNOTATION_REF_NAME];
  if (ref && /[:/]/.test(ref)) return [normaliseArchiveTag(src, ref)];
  return [];
}

/** Follow indexes down to the manifest for the host platform. */
async function pickManifest(src: ArchiveSource, desc: Descriptor, depth: number): Promise<Descriptor> {
  if (!isIndexMediaType(desc.mediaType)) return desc;
  if (depth >= MAX_INDEX_DEPTH) throw new ImageError(`load ${src.label}: image indexes nested more than ${MAX_INDEX_DEPTH} deep`);
  const what = `image index ${desc.digest}`;
  const index = checkIndex(await readJsonFile(await blobFor(src, desc, what), what), what);
  const host = hostPlatform();
  const match = index.manifests.find((m) => m.platform?.os === host.os && m.platform.architecture === host.architecture);
  if (match === undefined) {
    const have = index.manifests.map((m) => `${m.platform?.os ?? '?'}/${m.platform?.architecture ?? '?'}`).join(', ');
    throw new ImageError(`load ${src.label}: ${what} has no ${host.os}/${host.architecture} image (has ${have || 'none'})`, 'IMAGE_PLATFORM');
  }
  return pickManifest(src, match, depth + 1);
}

async function candidateOf(src: ArchiveSource, desc: Descriptor, tags: string[]): Promise<ImageCandidate> {
  const what = `manifest ${desc.digest}`;
  const manifestFile = await blobFor(src, desc, what);
  const manifest = checkManifest(await readJsonFile(manifestFile, what), what);
  const config = await blobFor(src, manifest.config, `config of ${what}`);
  const configJson = await readConfig(config, `config ${manifest.config.digest}`);
  const layers = [];
  for (const [i, layer] of manifest.layers.entries()) {
    layers.push({ descriptor: layer, staged: await blobFor(src, layer, `layer ${i} of ${what}`) });
  }
  return { manifest: manifestFile, config, configJson, layers, tags };
}
