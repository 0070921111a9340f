/**
 * Platforms (`linux/amd64`, `linux/arm64/v8`) and choosing one manifest from an index or
 * manifest list, as Docker does: exact os/architecture, variant when asked for, attestation
 * manifests (BuildKit's `unknown/unknown` entries) skipped.
 */
import { InvalidArgumentError, RegistryError } from '../core/errors.js';
import { hostPlatform, type Descriptor, type Platform } from '../image/oci.js';

export { hostPlatform };

/** `os/arch[/variant]`; a bare `arch` means linux. */
export function parsePlatform(text: string): Platform {
  const parts = text.trim().toLowerCase().split('/');
  const ok = (p: string | undefined) => p !== undefined && /^[a-z0-9_.-]+$/.test(p);
  if (parts.length === 1 && ok(parts[0])) return { os: 'linux', architecture: normaliseArch(parts[0]!) };
  if ((parts.length === 2 || parts.length === 3) && parts.every(ok)) {
    return { os: parts[0]!, architecture: normaliseArch(parts[1]!), ...(parts[2] ? { variant: parts[2] } : {}) };
  }
  throw new InvalidArgumentError(`invalid --platform \`${text}\`: use os/arch[/variant], e.g. linux/amd64 or linux/arm64/v8`);
}

function normaliseArch(arch: string): string {
  return arch === 'x86_64' || arch === 'x86-64' ? 'amd64' : arch === 'aarch64' ? 'arm64' : arch;
}

export function formatPlatform(p: Platform): string {
  return `${p.os}/${p.architecture}${p.variant ? `/${p.variant}` : ''}`;
}

function isAttestation(d: Descriptor): boolean {
  return d.annotations?.['vnd.docker.reference.type'] === 'attestation-manifest' || (d.platform?.os === 'unknown' && d.platform.architecture === 'unknown');
}

/** The manifest for `want` in an index; the error lists the platforms the index has. */
export function choosePlatform(manifests: readonly Descriptor[], want: Platform, what: string): Descriptor {
  const candidates = manifests.filter((d) => d.platform && !isAttestation(d));
  const matching = candidates.filter((d) => d.platform!.os === want.os && d.platform!.architecture === want.architecture);
  const wantVariant = want.variant ?? (want.architecture === 'arm64' ? 'v8' : undefined);
  const exact = matching.find((d) => (d.platform!.variant ?? (want.architecture === 'arm64' ? 'v8' : undefined)) === wantVariant);
  const chosen = exact ?? (want.variant === undefined ? matching[0] : undefined);
  if (chosen) return chosen;
  const have = [...new Set(candidates.map((d) => formatPlatform(d.platform!)))];
  throw new RegistryError(
    `${what}: no manifest for platform ${formatPlatform(want)}; it has ${have.length ? have.join(', ') : 'no platforms listed'} (choose one with --platform)`,
    'IMAGE_PLATFORM_MISMATCH',
  );
}
