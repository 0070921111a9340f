import type { ApiRequest } from '../router.js';
import type { DockerContext } from '../docker/context.js';
import { parseJsonObject } from '../body.js';
import { ApiError } from '../http-error.js';
import { IncomingMigrations } from '../../core/migration-in.js';
import { sandboxView } from './sandboxes.js';

/**
 * The destination's side of `nestbox migrate` (docs/checkpoints.md, "Migration"):
 * `POST /nestbox/v1/migrations` → `{id}`; `PUT /nestbox/v1/migrations/:id/data?offset=N` appends a
 * chunk (≤ 16 MiB, MIGRATION_CHUNK_BYTES) of the checkpoint export; `POST /nestbox/v1/migrations/:id/start` `{"name"}`
 * imports, checks and restores it, answering once the container runs; `DELETE` drops an upload.
 */
export async function createMigration(ctx: DockerContext, req: ApiRequest): Promise<void> {
  req.reply.json(201, { id: await new IncomingMigrations(ctx.engine).create() });
}

export async function uploadMigration(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const raw = req.query.get('offset') ?? '';
  if (!/^\d{1,15}$/.test(raw)) throw new ApiError(400, 'offset: a byte offset is required');
  const size = await new IncomingMigrations(ctx.engine).append(req.params.id!, Number(raw), req.body);
  req.reply.json(200, { size });
}

export async function startMigration(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const body = parseJsonObject(req.body, true);
  if (typeof body.name !== 'string' || !body.name) throw new ApiError(400, 'name: the container name is required');
  const r = await new IncomingMigrations(ctx.engine).finish(req.params.id!, body.name);
  req.reply.json(201, { ...sandboxView(r.container), restoreMs: r.ms });
}

export async function abortMigration(ctx: DockerContext, req: ApiRequest): Promise<void> {
  await new IncomingMigrations(ctx.engine).abort(req.params.id!);
  req.reply.empty(204);
}
