/**
 * The mounts of `POST /containers/create`, in docker's four spellings: `HostConfig.Binds`
 * (`-v`), `HostConfig.Mounts` (`--mount`), `HostConfig.Tmpfs` (`--tmpfs`) and `Config.Volumes`
 * (anonymous volumes, e.g. an image's VOLUME) — parsed by the same rules as the CLI's flags.
 */
import { anonymousVolumeName, parseMountFlag, parseTmpfsFlag, parseVolumeFlag, type MountSpec } from '../../core/mount-spec.js';
import { ApiError } from '../http-error.js';

export function mountsOf(body: Record<string, unknown>, hc: Record<string, unknown>): MountSpec[] {
  const out: MountSpec[] = [];
  const binds = hc.Binds;
  if (binds !== undefined && binds !== null) {
    if (!Array.isArray(binds) || !binds.every((b) => typeof b === 'string')) throw new ApiError(400, 'invalid HostConfig.Binds: expected a list of strings');
    for (const b of binds as string[]) out.push(parseVolumeFlag(b));
  }
  const mounts = hc.Mounts;
  if (mounts !== undefined && mounts !== null) {
    if (!Array.isArray(mounts)) throw new ApiError(400, 'invalid HostConfig.Mounts: expected a list');
    for (const m of mounts) out.push(mountObject(m));
  }
  const tmpfs = hc.Tmpfs;
  if (tmpfs !== undefined && tmpfs !== null) {
    if (typeof tmpfs !== 'object' || Array.isArray(tmpfs)) throw new ApiError(400, 'invalid HostConfig.Tmpfs: expected an object of path → options');
    for (const [target, opts] of Object.entries(tmpfs as Record<string, unknown>)) {
      if (typeof opts !== 'string') throw new ApiError(400, `invalid HostConfig.Tmpfs["${target}"]: expected a string`);
      out.push(parseTmpfsFlag(opts ? `${target}:${opts}` : target));
    }
  }
  const volumes = body.Volumes;
  if (volumes !== undefined && volumes !== null) {
    if (typeof volumes !== 'object' || Array.isArray(volumes)) throw new ApiError(400, 'invalid Volumes: expected an object of path → {}');
    for (const target of Object.keys(volumes as object)) {
      if (out.some((m) => m.target === target.replace(/\/+$/, ''))) continue;
      out.push(parseVolumeFlag(target));
    }
  }
  return out;
}

function mountObject(m: unknown): MountSpec {
  if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new ApiError(400, 'invalid HostConfig.Mounts entry: expected an object');
  const o = m as Record<string, unknown>;
  const field = (k: string) => (typeof o[k] === 'string' ? (o[k] as string) : undefined);
  const parts = [`type=${field('Type') ?? 'volume'}`, `target=${field('Target') ?? ''}`];
  const source = field('Source');
  if (source) parts.push(`source=${source}`);
  if (o.ReadOnly === true) parts.push('readonly');
  const t = o.TmpfsOptions as { SizeBytes?: unknown; Mode?: unknown } | undefined;
  if (t && typeof t.SizeBytes === 'number') parts.push(`tmpfs-size=${t.SizeBytes}`);
  if (t && typeof t.Mode === 'number') parts.push(`tmpfs-mode=${t.Mode.toString(8)}`);
  if (parts.some((p) => p.slice(p.indexOf('=') + 1).includes(','))) throw new ApiError(400, 'invalid HostConfig.Mounts entry: commas are not allowed in its values');
  const spec = parseMountFlag(parts.join(','));
  return spec.type === 'volume' && !source ? { ...spec, source: anonymousVolumeName(), anonymous: true } : spec;
}
