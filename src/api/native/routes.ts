import type { Router, ApiRequest } from '../router.js';
import type { DockerContext } from '../docker/context.js';
import { nativeInfo } from './system.js';
import { getSandbox, listSandboxes } from './sandboxes.js';

/** The native API (docs/api.md, "Native API"): what Docker's API cannot express. Versioned by path. */
export function addNativeRoutes(router: Router, ctx: DockerContext): Router {
  const h = (f: (ctx: DockerContext, req: ApiRequest) => Promise<void>) => (req: ApiRequest) => f(ctx, req);
  return router
    .on('GET', '/nestbox/v1/info', h(nativeInfo))
    .on('GET', '/nestbox/v1/sandboxes', h(listSandboxes))
    .on('GET', '/nestbox/v1/sandboxes/:id', h(getSandbox));
}
