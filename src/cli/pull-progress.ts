/** Pull with docker's progress output; shared by `pull` and the implicit pull of `run`/`create`. */
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
