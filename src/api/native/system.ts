import { systemInfo } from '../../core/system-info.js';
import type { ApiRequest } from '../router.js';
import type { DockerContext } from '../docker/context.js';

export const NATIVE_API_VERSION = 1;

/** `GET /nestbox/v1/info` — accelerator (and why), nesting, VMM, guest, runc, counts. */
export async function nativeInfo(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const s = await systemInfo(ctx.engine);
  req.reply.json(200, {
    apiVersion: NATIVE_API_VERSION,
    version: s.version,
    root: s.root,
    isolation: { default: 'vm', available: ['vm', 'process'] },
    accelerator: s.accelerator,
    vmm: s.vmm,
    runc: s.runc,
    guest: s.guest,
    containers: s.containers,
    images: s.images,
    host: { kernel: s.hostKernel, cpus: s.cpus, memoryBytes: s.memoryBytes },
  });
}
