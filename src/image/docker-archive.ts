/**
 * Images of a `docker save` tarball: `manifest.json` lists config and layer files, either the
 * legacy layout (`<hex>.json`, `<id>/layer.tar`) or the OCI-in-docker one of docker 25+
 * (`blobs/sha256/<hex>`). nestbox writes an OCI manifest for each image (docker-archive has none).
 */
import { ImageError } from '../core/errors.js';
import type { ArchiveSource } from './archive-source.js';
import { checkStaged, normaliseArchiveTag, readConfig, readJsonFile, type ImageCandidate } from './candidate.js';
import { detectFileCompression, layerMediaType } from './compression.js';
import { MEDIA, type Manifest } from './oci.js';
import type { Staging, StagedFile } from './staging.js';

interface DockerManifestEntry {
  Config: string;
  RepoTags?: string[] | null;
  Layers: string[];
}

/** Content-addressed names in docker archives: `<hex>.json`, `blobs/sha256/<hex>`, `<hex>.tar`. */
const NAMED_BY_DIGEST = /^(?:blobs\/sha256\/)?([a-f0-9]{64})(?:\.json|\.tar)?$/;

export async function dockerCandidates(src: ArchiveSource, staging: Staging, manifestFile: StagedFile): Promise<ImageCandidate[]> {
  const entries = await readJsonFile(manifestFile, 'manifest.json');
  if (!Array.isArray(entries) || entries.length === 0) throw new ImageError(`load ${src.label}: manifest.json lists no images`);
  const out: ImageCandidate[] = [];
  for (const [i, entry] of entries.entries()) out.push(await candidateOf(src, staging, checkEntry(src, entry, i)));
  return out;
}

function checkEntry(src: ArchiveSource, v: unknown, i: number): DockerManifestEntry {
  const e = v as Partial<DockerManifestEntry> | null;
  const strings = (a: unknown) => Array.isArray(a) && a.every((s) => typeof s === 'string');
  if (typeof e?.Config !== 'string' || !strings(e.Layers) || (e.RepoTags != null && !strings(e.RepoTags))) {
    throw new ImageError(`load ${src.label}: manifest.json entry ${i} needs Config, Layers and (optionally) RepoTags`);
  }
  return e as DockerManifestEntry;
}

async function fileOf(src: ArchiveSource, rel: string, what: string): Promise<StagedFile> {
  const staged = await src.get(rel);
  if (staged === undefined) throw new ImageError(`load ${src.label}: ${what} \`${rel}\` is missing from the archive`);
  const hex = NAMED_BY_DIGEST.exec(rel)?.[1];
  if (hex !== undefined && (rel.startsWith('blobs/') || rel.endsWith('.json'))) checkStaged(src, staged, `sha256:${hex}`, undefined, `${what} \`${rel}\``);
  return staged;
}

async function candidateOf(src: ArchiveSource, staging: Staging, entry: DockerManifestEntry): Promise<ImageCandidate> {
  const config = await fileOf(src, entry.Config, 'image config');
  const configJson = await readConfig(config, `image config \`${entry.Config}\``);
  const layers = [];
  for (const [i, rel] of entry.Layers.entries()) {
    const staged = await fileOf(src, rel, `layer ${i}`);
    const mediaType = layerMediaType(await detectFileCompression(staged.file));
    layers.push({ descriptor: { mediaType, digest: staged.digest, size: staged.size }, staged });
  }
  const manifest: Manifest = {
    schemaVersion: 2,
    mediaType: MEDIA.ociManifest,
    config: { mediaType: MEDIA.ociConfig, digest: config.digest, size: config.size },
    layers: layers.map((l) => l.descriptor),
  };
  const manifestFile = await staging.stageBytes(Buffer.from(JSON.stringify(manifest)));
  const tags = (entry.RepoTags ?? []).map((t) => normaliseArchiveTag(src, t));
  return { manifest: manifestFile, config, configJson, layers, tags };
}
