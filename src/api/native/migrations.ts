import type { ApiRequest } from '../router.js';
import type { DockerContext } from '../docker/context.js';
import { parseJsonObject } from '../body.js';
import { ApiError } from '../http-error.js';
import { IncomingMigrations } from '../../core/migration-in.js';
import { sandboxView } from './sandboxes.js';

/**
 * The destination's side of `nestbox migrate` (docs/checkpoints.md, "Migration"):
 * `POST /nestbox/v1/migrations` `{"name", "manifest"}` → `{id}` (refused at once if this host
 * cannot restore that checkpoint, or the name is taken); `PUT …/:id/files/:file?offset=N` appends
 * a chunk (≤ 16 MiB, MIGRATION_CHUNK_BYTES) of a checkpoint file; `PUT …/:id/ram` streams runs of
 * RAM pages, written as they arrive. `POST …/:id/start` `{"name"}` checks and restores it, answering once the
 * container runs; `DELETE` drops an upload.
 */
export async function createMigration(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const body = parseJsonObject(req.body, true);
  if (typeof body.name !== 'string' || !body.name) throw new ApiError(400, 'name: the container name is required');
  if (typeof body.manifest !== 'string' || !body.manifest) throw new ApiError(400, 'manifest: the checkpoint manifest (its text) is required');
  req.reply.json(201, { id: await new IncomingMigrations(ctx.engine).create(body.name, body.manifest) });
}

export async function uploadMigrationFile(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const raw = req.query.get('offset') ?? '';
  if (!/^\d{1,15}$/.test(raw)) throw new ApiError(400, 'offset: a byte offset is required');
  const size = await new IncomingMigrations(ctx.engine).appendFile(req.params.id!, req.params.file!, Number(raw), req.body);
  req.reply.json(200, { size });
}

export async function uploadMigrationRam(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const next = await new IncomingMigrations(ctx.engine).receiveRam(req.params.id!, req.stream!);
  req.reply.json(200, { nextPage: next });
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
