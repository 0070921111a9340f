/** Pull with docker's progress output; shared by `pull` and the implicit pull of `run`/`create`. */
import { NotFoundError, InvalidArgumentError } from '../core/errors.js';
import { familiar } from '../image/reference.js';
import type { ImageStore } from '../image/store.js';
import type { PullResult } from '../image/pull.js';
import { insecureFromEnv } from '../registry/endpoint.js';
import { parsePlatform } from '../registry/platform.js';
import { LayerProgress } from './progress.js';

export interface PullFlags {
  platform?: string;
  quiet?: boolean;
  insecureRegistry?: string[];
  stream?: NodeJS.WriteStream;
}

export async function pullWithProgress(images: ImageStore, ref: string, flags: PullFlags): Promise<PullResult> {
  const progress = new LayerProgress(flags.stream ?? process.stderr, flags.quiet);
  const result = await images.pull(ref, {
    ...(flags.platform ? { platform: parsePlatform(flags.platform) } : {}),
    insecureRegistries: [...insecureFromEnv(), ...(flags.insecureRegistry ?? [])],
    onEvent: (e) => {
      if (e.kind === 'start') {
        const name = familiar(e.ref).replace(/[:@][^/]*$/, '');
        progress.message(`${e.tagOrDigest.startsWith('sha256:') ? e.tagOrDigest : e.tagOrDigest}: Pulling from ${name}`);
      } else if (e.kind === 'layer') {
        progress.layer(e.id, e.status, e.current, e.total);
      } else {
        progress.flush();
        progress.message(`Digest: ${e.digest}`);
        progress.message(`Status: ${e.upToDate ? 'Image is up to date' : 'Downloaded newer image'} for ${familiar(e.ref)}`);
      }
    },
  });
  return result;
}

export type PullPolicy = 'missing' | 'always' | 'never';

export function parsePullPolicy(value: string | undefined): PullPolicy {
  const v = value ?? 'missing';
  if (v !== 'missing' && v !== 'always' && v !== 'never') throw new InvalidArgumentError(`invalid --pull "${value}": use missing, always or never`);
  return v;
}

/**
 * The implicit pull of `run`/`create`, as docker does it: with policy `missing`, an image not in
 * the store is pulled (progress on stderr, so the container's stdout stays clean).
 */
export async function ensureImage(images: ImageStore & { resolve(ref: string): Promise<unknown> }, ref: string, flags: PullFlags & { pull?: string }): Promise<void> {
  const policy = parsePullPolicy(flags.pull);
  if (policy === 'never') return;
  if (policy === 'missing') {
    try {
      await images.resolve(ref);
      return;
    } catch (err) {
      if (!(err instanceof NotFoundError)) throw err;
    }
    if (!flags.quiet) process.stderr.write(`Unable to find image '${ref}' locally\n`);
  }
  await pullWithProgress(images, ref, { ...flags, stream: process.stderr });
}
