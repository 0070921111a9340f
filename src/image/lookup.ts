/**
 * Which image a user's words name, as Docker decides: a full ID, then a reference (name[:tag] or
 * name@digest), then an unambiguous short ID (at least 4 hex digits, `sha256:` optional).
 */
import { InvalidArgumentError } from '../core/errors.js';
import { imageByRef, type IndexData, type StoredImage } from './index-file.js';
import { formatReference, parseReference, type ImageReference } from './reference.js';

export type Lookup =
  | { image: StoredImage; by: 'id' }
  | { image: StoredImage; by: 'tag'; ref: string }
  | { image: StoredImage; by: 'digest'; ref: string };

const FULL_ID = /^(?:sha256:)?([a-f0-9]{64})$/;
const SHORT_ID = /^(?:sha256:)?([a-f0-9]{4,63})$/;

export function lookupImage(data: IndexData, input: string): Lookup | undefined {
  const full = FULL_ID.exec(input);
  if (full) {
    const image = data.images[`sha256:${full[1]}`];
    return image ? { image, by: 'id' } : undefined;
  }
  let ref: ImageReference | undefined;
  let parseError: unknown;
  try {
    ref = parseReference(input);
  } catch (err) {
    parseError = err;
  }
  if (ref !== undefined) {
    const found = lookupReference(data, ref);
    if (found) return found;
  }
  const short = SHORT_ID.exec(input);
  if (short) {
    const matches = Object.values(data.images).filter((img) => img.id.startsWith(`sha256:${short[1]}`));
    if (matches.length > 1) throw new InvalidArgumentError(`image ID \`${input}\` is ambiguous: it matches ${matches.length} images`);
    if (matches[0]) return { image: matches[0], by: 'id' };
  }
  if (parseError !== undefined) throw parseError;
  return undefined;
}

function lookupReference(data: IndexData, ref: ImageReference): Lookup | undefined {
  if (ref.digest !== undefined) {
    const pulledAs = `${ref.name}@${ref.digest}`;
    const byDigest = Object.values(data.images).filter(
      (img) => img.manifestDigest === ref.digest || img.id === ref.digest || img.repoDigests?.some((d) => d.endsWith(`@${ref.digest}`)),
    );
    const image =
      byDigest.find((img) => img.repoDigests?.includes(pulledAs)) ?? byDigest.find((img) => img.repoTags.some((t) => t.startsWith(`${ref.name}:`))) ?? byDigest[0];
    return image ? { image, by: 'digest', ref: formatReference(ref) } : undefined;
  }
  const name = formatReference(ref);
  const image = imageByRef(data, name);
  return image ? { image, by: 'tag', ref: name } : undefined;
}
