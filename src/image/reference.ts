/**
 * Image references, parsed and normalised as Docker does:
 * `busybox` → `docker.io/library/busybox:latest`, `user/app:1` → `docker.io/user/app:1`,
 * `localhost:5000/a/b@sha256:<hex>` keeps its registry and carries no default tag.
 */
import { InvalidArgumentError } from '../core/errors.js';

export const DEFAULT_DOMAIN = 'docker.io';
export const DEFAULT_TAG = 'latest';
const OFFICIAL_PREFIX = 'library/';
const MAX_NAME_LENGTH = 255;

const DOMAIN_COMPONENT = '(?:[a-zA-Z0-9]|[a-zA-Z0-9][a-zA-Z0-9-]*[a-zA-Z0-9])';
const DOMAIN_RE = new RegExp(`^(?:${DOMAIN_COMPONENT}(?:\\.${DOMAIN_COMPONENT})*|\\[[0-9a-fA-F:]+\\])(?::[0-9]+)?$`);
const PATH_COMPONENT_RE = /^[a-z0-9]+(?:(?:[_.]|__|-+)[a-z0-9]+)*$/;
const TAG_RE = /^[\w][\w.-]{0,127}$/;
const DIGEST_RE = /^(sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128})$/;
const ID_LIKE_RE = /^[a-f0-9]{64}$/;

/** A parsed, normalised reference. `tag` is `latest` unless the input named a tag or a digest. */
export interface ImageReference {
  /** Registry host (and port): `docker.io`, `localhost:5000`, `ghcr.io`. */
  domain: string;
  /** Repository path inside the registry: `library/busybox`, `a/b`. */
  path: string;
  /** `domain/path`: the repository name. */
  name: string;
  tag?: string;
  /** `sha256:<64 hex>` */
  digest?: string;
}

/** Parse and normalise; throws InvalidArgumentError naming the bad reference. */
export function parseReference(input: string): ImageReference {
  const bad = (why: string): never => {
    throw new InvalidArgumentError(`invalid reference format \`${input}\`: ${why}`);
  };
  if (input.length === 0) bad('empty');
  if (/\s/.test(input)) bad('contains whitespace');
  if (ID_LIKE_RE.test(input)) bad('cannot specify 64-byte hexadecimal strings as a name');

  let rest = input;
  let digest: string | undefined;
  const at = rest.indexOf('@');
  if (at !== -1) {
    digest = rest.slice(at + 1);
    rest = rest.slice(0, at);
    if (!DIGEST_RE.test(digest)) bad(`bad digest \`${digest}\` (want sha256:<64 lowercase hex>)`);
  }

  let tag: string | undefined;
  const lastColon = rest.lastIndexOf(':');
  if (lastColon > rest.lastIndexOf('/')) {
    tag = rest.slice(lastColon + 1);
    rest = rest.slice(0, lastColon);
    if (!TAG_RE.test(tag)) bad(`bad tag \`${tag}\``);
  }

  const { domain, path } = splitDomain(rest);
  if (domain !== DEFAULT_DOMAIN && !DOMAIN_RE.test(domain)) bad(`bad registry \`${domain}\``);
  if (path.length === 0) bad('empty repository name');
  for (const component of path.split('/')) {
    if (component !== component.toLowerCase()) bad('repository name must be lowercase');
    if (!PATH_COMPONENT_RE.test(component)) bad(`bad repository path component \`${component}\``);
  }
  const name = `${domain}/${path}`;
  if (name.length > MAX_NAME_LENGTH) bad(`repository name longer than ${MAX_NAME_LENGTH} characters`);

  if (tag === undefined && digest === undefined) tag = DEFAULT_TAG;
  return { domain, path, name, ...(tag !== undefined ? { tag } : {}), ...(digest !== undefined ? { digest } : {}) };
}

/** Docker's rule: the first component is a registry only if it has a `.` or `:` or is `localhost`. */
function splitDomain(name: string): { domain: string; path: string } {
  const slash = name.indexOf('/');
  let domain = DEFAULT_DOMAIN;
  let path = name;
  if (slash !== -1) {
    const first = name.slice(0, slash);
    if (first.includes('.') || first.includes(':') || first === 'localhost' || first !== first.toLowerCase()) {
      domain = first;
      path = name.slice(slash + 1);
    }
  }
  if (domain === 'index.docker.io') domain = DEFAULT_DOMAIN;
  if (domain === DEFAULT_DOMAIN && !path.includes('/')) path = OFFICIAL_PREFIX + path;
  return { domain, path };
}

/** `name[:tag][@digest]` of a parsed reference. */
export function formatReference(ref: ImageReference): string {
  return `${ref.name}${ref.tag !== undefined ? `:${ref.tag}` : ''}${ref.digest !== undefined ? `@${ref.digest}` : ''}`;
}

/** Parse and print back in full form: `busybox` → `docker.io/library/busybox:latest`. */
export function normaliseReference(input: string): string {
  return formatReference(parseReference(input));
}

/** Parse a reference that must be a name with a tag (no digest), as `tag` and `load` need. */
export function parseTaggedReference(input: string): ImageReference & { tag: string } {
  const ref = parseReference(input);
  if (ref.digest !== undefined || ref.tag === undefined) {
    throw new InvalidArgumentError(`invalid tag reference \`${input}\`: a digest cannot be used as a tag`);
  }
  return ref as ImageReference & { tag: string };
}

/** Short form for display: `docker.io/library/busybox:latest` → `busybox:latest`. */
export function familiar(name: string | ImageReference): string {
  const full = typeof name === 'string' ? name : formatReference(name);
  if (!full.startsWith(`${DEFAULT_DOMAIN}/`)) return full;
  const rest = full.slice(DEFAULT_DOMAIN.length + 1);
  return rest.startsWith(OFFICIAL_PREFIX) && !rest.slice(OFFICIAL_PREFIX.length).split(/[:@]/)[0]!.includes('/')
    ? rest.slice(OFFICIAL_PREFIX.length)
    : rest;
}

/** Whether `input` is an image digest such as `sha256:<64 hex>`. */
export function isDigest(input: string): boolean {
  return DIGEST_RE.test(input);
}
