/** An image found in an archive, before it is verified and committed to the store. */
import { ImageError, InvalidArgumentError } from '../core/errors.js';
import { sha256Hex } from './digest.js';
import { checkConfig, parseJson, type Descriptor, type ImageConfig } from './oci.js';
import { formatReference, parseTaggedReference } from './reference.js';
import type { StagedFile } from './staging.js';
import { readStagedText, type ArchiveSource } from './archive-source.js';

export interface ImageCandidate {
  manifest: StagedFile;
  config: StagedFile;
  configJson: ImageConfig;
  layers: { descriptor: Descriptor; staged: StagedFile }[];
  /** Normalised references the archive gives it. */
  tags: string[];
  /** `name@digest` references it was pulled by. */
  repoDigests?: string[];
}

/** The blob a descriptor points at in an OCI layout (`blobs/sha256/<hex>`), checked against it. */
export async function blobFor(src: ArchiveSource, desc: Descriptor, what: string): Promise<StagedFile> {
  const hex = sha256Hex(desc.digest);
  if (hex === undefined) throw new ImageError(`load ${src.label}: ${what} has unsupported digest \`${desc.digest}\``, 'IMAGE_UNSUPPORTED');
  const staged = await src.get(`blobs/sha256/${hex}`);
  if (staged === undefined) throw new ImageError(`load ${src.label}: ${what} ${desc.digest} is missing (no blobs/sha256/${hex.slice(0, 12)}…)`);
  checkStaged(src, staged, desc.digest, desc.size, what);
  return staged;
}

/** Refuse a staged file whose digest (and size, when known) differs from what the archive claims. */
export function checkStaged(src: ArchiveSource, staged: StagedFile, digest: string, size: number | undefined, what: string): void {
  if (staged.digest !== digest) {
    throw new ImageError(`load ${src.label}: ${what} digest mismatch: expected ${digest}, content hashes to ${staged.digest}`, 'IMAGE_DIGEST_MISMATCH');
  }
  if (size !== undefined && staged.size !== size) {
    throw new ImageError(`load ${src.label}: ${what} ${digest} size mismatch: expected ${size} bytes, found ${staged.size}`, 'IMAGE_DIGEST_MISMATCH');
  }
}

export async function readConfig(staged: StagedFile, what: string): Promise<ImageConfig> {
  return checkConfig(parseJson(await readStagedText(staged, what), what), what);
}

export async function readJsonFile(staged: StagedFile, what: string): Promise<unknown> {
  return parseJson(await readStagedText(staged, what), what);
}

/** Normalise a tag the archive gives; a bad one makes the archive invalid. */
export function normaliseArchiveTag(src: ArchiveSource, tag: string): string {
  try {
    return formatReference(parseTaggedReference(tag));
  } catch (err) {
    if (err instanceof InvalidArgumentError) throw new ImageError(`load ${src.label}: bad image name \`${tag}\`: ${err.message}`);
    throw err;
  }
}
