/** `/volumes` routes of the Docker API over the core's volume store. */
import type { Volume } from '../../core/volumes.js';
import { anonymousVolumeName } from '../../core/mount-spec.js';
import { parseJsonObject } from '../body.js';
import { ApiError } from '../http-error.js';
import type { ApiRequest } from '../router.js';
import { flag, type DockerContext } from './context.js';

function doc(v: Volume): Record<string, unknown> {
  return { CreatedAt: v.created, Driver: v.driver, Labels: v.labels, Mountpoint: v.mountpoint, Name: v.name, Options: v.options, Scope: 'local' };
}

/** `GET /volumes` */
export async function listVolumes(ctx: DockerContext, req: ApiRequest): Promise<void> {
  req.reply.json(200, { Volumes: (await ctx.engine.volumes.list()).map(doc), Warnings: [] });
}

/** `POST /volumes/create` {Name, Driver, DriverOpts, Labels} */
export async function createVolume(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const body = parseJsonObject(req.body);
  const strings = (v: unknown, field: string): Record<string, string> => {
    if (v === undefined || v === null) return {};
    if (typeof v !== 'object' || Array.isArray(v) || !Object.values(v).every((x) => typeof x === 'string')) throw new ApiError(400, `invalid ${field}: expected an object of strings`);
    return v as Record<string, string>;
  };
  const name = typeof body.Name === 'string' && body.Name ? body.Name : anonymousVolumeName();
  const v = await ctx.engine.volumes.create(name, {
    ...(typeof body.Driver === 'string' && body.Driver ? { driver: body.Driver } : {}),
    options: strings(body.DriverOpts, 'DriverOpts'),
    labels: strings(body.Labels, 'Labels'),
  });
  req.reply.json(201, doc(v));
}

/** `GET /volumes/{name}` */
export async function inspectVolume(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const name = req.params.name!;
  const v = await ctx.engine.volumes.inspect(name);
  req.reply.json(200, { ...doc(v), UsageData: { RefCount: (await ctx.engine.volumeUsers(name)).length, Size: await ctx.engine.volumes.usage(name) } });
}

/** `DELETE /volumes/{name}`: 409 while a container uses it (force does not change that). */
export async function removeVolume(ctx: DockerContext, req: ApiRequest): Promise<void> {
  void flag(req.query, 'force');
  await ctx.engine.volumes.remove(req.params.name!, (n) => ctx.engine.volumeUsers(n));
  req.reply.empty(204);
}

/** `POST /volumes/prune` (anonymous volumes; `filters={"all":["true"]}` for all, as API ≥ 1.42) */
export async function pruneVolumes(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const filters = req.query.get('filters');
  let all = false;
  if (filters) {
    try {
      const f = JSON.parse(filters) as Record<string, unknown>;
      const a = f.all;
      all = Array.isArray(a) ? a.includes('true') || a.includes('1') : typeof a === 'object' && a !== null && ('true' in a || '1' in a);
    } catch {
      throw new ApiError(400, 'invalid filters: expected JSON');
    }
  }
  const r = await ctx.engine.volumes.prune((n) => ctx.engine.volumeUsers(n), all);
  req.reply.json(200, { VolumesDeleted: r.removed, SpaceReclaimed: r.bytes });
}
