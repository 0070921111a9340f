import { inspectDocument } from '../../core/inspect.js';
import { networkView } from '../../core/network-inspect.js';
import { parseSignal } from '../../core/signals.js';
import { parseJsonObject } from '../body.js';
import { ApiError } from '../http-error.js';
import type { ApiRequest } from '../router.js';
import { parseCreate } from './create-config.js';
import { containerSummary } from './container-json.js';
import { flag, type DockerContext } from './context.js';
import { parseSize } from './exec.js';
import { encode } from '../../guest/messages.js';

/** `GET /containers/json?all=` */
export async function listContainers(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const list = await ctx.engine.list({ all: flag(req.query, 'all') });
  const limit = Number(req.query.get('limit') ?? -1);
  req.reply.json(200, (limit > 0 ? list.slice(0, limit) : list).map(containerSummary));
}

/** `GET /containers/{id}/json` */
export async function inspectContainer(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const c = await ctx.engine.inspect(req.params.id!);
  const doc = inspectDocument(c, await networkView(ctx.engine.networks, c));
  req.reply.json(200, { ...doc, Driver: 'nestbox', Platform: 'linux', Mounts: [] });
}

/** `POST /containers/create?name=` */
export async function createContainer(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const action = parseCreate(parseJsonObject(req.body, true), req.query.get('name'));
  const c = await ctx.engine.create(action.options);
  if (action.consoleSize) ctx.consoleSizes.set(c.config.id, action.consoleSize);
  req.reply.json(201, { Id: c.config.id, Warnings: [] });
}

/** `POST /containers/{id}/start`: boots it; attachers waiting for it get its output (and stdin). */
export async function startContainer(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const c = await ctx.engine.inspect(req.params.id!);
  const id = c.config.id;
  if (c.state.status === 'running' || c.state.status === 'paused') return req.reply.empty(304);
  const keepChannel = c.config.openStdin && ctx.hub.wantsStdin(id);
  const ttySize = c.config.process.tty ? ctx.consoleSizes.get(id) : undefined;
  let started;
  try {
    started = await ctx.engine.start(id, { keepChannel, ...(ttySize ? { ttySize } : {}) });
  } catch (err) {
    if (c.config.autoRemove) await ctx.engine.remove(id, { force: true }).catch(() => undefined);
    throw err;
  }
  ctx.consoleSizes.delete(id);
  ctx.hub.started(started.container, started.channel);
  req.reply.empty(204);
}

/** `POST /containers/{id}/stop?t=` (304 when it was not running). */
export async function stopContainer(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const t = req.query.get('t');
  const timeout = t === null || t === '' ? 10 : Number(t);
  if (!Number.isInteger(timeout) || timeout < -1) throw new ApiError(400, `invalid t "${t}": use a number of seconds`);
  const c = await ctx.engine.inspect(req.params.id!);
  if (c.state.status !== 'running' && c.state.status !== 'paused') return req.reply.empty(304);
  await ctx.engine.stop(c.config.id, timeout < 0 ? 3600 : timeout);
  req.reply.empty(204);
}

/** `POST /containers/{id}/kill?signal=` (default KILL). */
export async function killContainer(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const signal = parseSignal(req.query.get('signal') || 'KILL');
  await ctx.engine.kill(req.params.id!, signal);
  req.reply.empty(204);
}

/** `DELETE /containers/{id}?force=` */
export async function removeContainer(ctx: DockerContext, req: ApiRequest): Promise<void> {
  await ctx.engine.remove(req.params.id!, { force: flag(req.query, 'force') });
  req.reply.empty(204);
}

/** `POST /containers/{id}/resize?h=&w=`: through the attached stdin channel, when there is one. */
export async function resizeContainer(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const { rows, cols } = parseSize(req.query);
  const c = await ctx.engine.inspect(req.params.id!);
  ctx.hub.channels.get(c.config.id)?.send(encode.resize(0, rows, cols));
  req.reply.empty(200);
}
