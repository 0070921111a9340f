import type { Router, ApiRequest } from '../router.js';
import type { DockerContext } from '../docker/context.js';
import { nativeInfo } from './system.js';
import { getSandbox, listSandboxes } from './sandboxes.js';
import { abortMigration, createMigration, startMigration, uploadMigrationFile, uploadMigrationRam } from './migrations.js';
import { MIGRATION_CHUNK_BYTES } from '../../core/migration-in.js';

/** The native API (docs/api.md, "Native API"): what Docker's API cannot express. Versioned by path. */
export function addNativeRoutes(router: Router, ctx: DockerContext): Router {
  const h = (f: (ctx: DockerContext, req: ApiRequest) => Promise<void>) => (req: ApiRequest) => f(ctx, req);
  return router
    .on('GET', '/nestbox/v1/info', h(nativeInfo))
    .on('GET', '/nestbox/v1/sandboxes', h(listSandboxes))
    .on('GET', '/nestbox/v1/sandboxes/:id', h(getSandbox))
    .on('POST', '/nestbox/v1/migrations', h(createMigration))
    .on('PUT', '/nestbox/v1/migrations/:id/files/:file', h(uploadMigrationFile), { maxBody: MIGRATION_CHUNK_BYTES })
    .on('PUT', '/nestbox/v1/migrations/:id/ram', h(uploadMigrationRam), { stream: true })
    .on('POST', '/nestbox/v1/migrations/:id/start', h(startMigration))
    .on('DELETE', '/nestbox/v1/migrations/:id', h(abortMigration));
}
