/**
 * Registry routes of the Docker API: `POST /images/create` (pull), `POST /images/{name}/push`
 * and `POST /auth`. Credentials come as the client sends them, in `X-Registry-Auth` (base64url
 * JSON) or the `/auth` body; they are used for this request only and never stored by the server.
 * Progress streams as docker's JSON messages; an error after the stream started is an
 * `errorDetail` message, as docker sends it.
 */
import { NestboxError } from '../../core/errors.js';
import { familiar } from '../../image/reference.js';
import type { PullEvent } from '../../image/pull.js';
import type { PushEvent } from '../../image/push.js';
import type { Credentials } from '../../registry/credentials.js';
import { registryDomain, verifyLogin } from '../../registry/login.js';
import { parsePlatform } from '../../registry/platform.js';
import { parseJsonObject } from '../body.js';
import { ApiError } from '../http-error.js';
import type { StreamOut } from '../reply.js';
import type { ApiRequest } from '../router.js';
import type { DockerContext } from './context.js';

/** `POST /images/create?fromImage=&tag=&platform=` */
export async function pullImage(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const from = req.query.get('fromImage');
  if (!from) throw new ApiError(501, 'importing images (fromSrc) is not implemented by nestbox; use `nestbox load -i FILE`');
  const tag = req.query.get('tag');
  const ref = tag ? (tag.startsWith('sha256:') ? `${from}@${tag}` : `${from}:${tag}`) : from;
  const platform = req.query.get('platform');
  const progress = new ProgressStream(req);
  await progress.run(async () => {
    await ctx.engine.images.pull(ref, {
      ...(platform ? { platform: parsePlatform(platform) } : {}),
      ...credentialsOf(req),
      onEvent: (e) => pullMessages(e).forEach((m) => progress.send(m)),
    });
  });
}

/** `POST /images/{name}/push?tag=` */
export async function pushImage(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const name = req.params.name!;
  const tag = req.query.get('tag');
  const ref = tag ? `${name}:${tag}` : name;
  const progress = new ProgressStream(req);
  await progress.run(async () => {
    await ctx.engine.images.push(ref, { ...credentialsOf(req), onEvent: (e) => pushMessages(e).forEach((m) => progress.send(m)) });
  });
}

/** `POST /auth`: check credentials against the registry (the client stores them, not us). */
export async function checkAuth(_ctx: DockerContext, req: ApiRequest): Promise<void> {
  const body = parseJsonObject(req.body, true);
  const username = typeof body.username === 'string' ? body.username : '';
  const password = typeof body.password === 'string' ? body.password : '';
  if (!username || !password) throw new ApiError(400, 'username and password are required');
  const server = typeof body.serveraddress === 'string' ? body.serveraddress : undefined;
  await verifyLogin(registryDomain(server), { username, password });
  req.reply.json(200, { Status: 'Login Succeeded', IdentityToken: '' });
}

function credentialsOf(req: ApiRequest): { credentials?: Credentials } {
  const header = req.headers['x-registry-auth'];
  const text = Array.isArray(header) ? header[0] : header;
  if (!text) return {};
  let parsed: Record<string, unknown>;
  try {
    parsed = JSON.parse(Buffer.from(text.replace(/-/g, '+').replace(/_/g, '/'), 'base64').toString('utf8')) as Record<string, unknown>;
  } catch {
    throw new ApiError(400, 'X-Registry-Auth is not base64-encoded JSON');
  }
  if (typeof parsed !== 'object' || parsed === null) throw new ApiError(400, 'X-Registry-Auth is not a JSON object');
  const { username, password } = parsed;
  return typeof username === 'string' && username && typeof password === 'string' && password ? { credentials: { username, password } } : {};
}

/** Docker's JSON-lines progress: headers go out with the first message, so early errors are HTTP errors. */
class ProgressStream {
  private out: StreamOut | undefined;
  private queue: Promise<void> = Promise.resolve();

  constructor(private readonly req: ApiRequest) {}

  send(message: Record<string, unknown>): void {
    this.out ??= this.req.reply.stream(200, 'application/json');
    const out = this.out;
    this.queue = this.queue.then(() => (out.closed ? undefined : out.write(JSON.stringify(message) + '\r\n')));
  }

  async run(work: () => Promise<void>): Promise<void> {
    try {
      await work();
    } catch (err) {
      if (this.out === undefined) throw err;
      const message = (err as Error).message;
      // `code`: nestbox's stable error code, for the SDK (the docker CLI ignores it)
      this.send({ errorDetail: { message }, error: message, ...(err instanceof NestboxError ? { code: err.code } : {}) });
    }
    await this.queue;
    this.out?.end();
  }
}

function pullMessages(e: PullEvent): Record<string, unknown>[] {
  if (e.kind === 'start') return [{ status: `Pulling from ${familiar(e.ref).replace(/[:@][^/]*$/, '')}`, id: e.tagOrDigest }];
  if (e.kind === 'layer') return [layerMessage(e.id, e.status === 'Waiting' ? 'Pulling fs layer' : e.status, e.current, e.total)];
  return [{ status: `Digest: ${e.digest}` }, { status: `Status: ${e.upToDate ? 'Image is up to date' : 'Downloaded newer image'} for ${familiar(e.ref)}` }];
}

function pushMessages(e: PushEvent): Record<string, unknown>[] {
  if (e.kind === 'start') return [{ status: `The push refers to repository [${familiar(e.ref).replace(/:[^:/]*$/, '')}]` }];
  if (e.kind === 'layer') return [layerMessage(e.id, e.status, e.current, e.total)];
  // The docker CLI prints the status line and hands the aux message to its content-trust code.
  return [{ status: `${e.tag}: digest: ${e.digest} size: ${e.size}` }, { progressDetail: {}, aux: { Tag: e.tag, Digest: e.digest, Size: e.size } }];
}

function layerMessage(id: string, status: string, current?: number, total?: number): Record<string, unknown> {
  return { status, id, progressDetail: current !== undefined && total ? { current, total } : {} };
}
