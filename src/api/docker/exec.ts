import { PassThrough } from 'node:stream';
import { mergeEnv } from '../../core/create-spec.js';
import { ConflictError } from '../../core/errors.js';
import { parseJsonObject } from '../body.js';
import { ApiError } from '../http-error.js';
import type { ApiRequest } from '../router.js';
import { MEDIA_MULTIPLEXED, MEDIA_RAW, framer } from '../stream.js';
import { compareVersions } from '../version.js';
import type { DockerContext } from './context.js';

/** `POST /containers/{id}/exec`: record an exec instance (nothing runs yet). */
export async function createExec(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const body = parseJsonObject(req.body, true);
  const c = await ctx.engine.inspect(req.params.id!);
  if (c.state.status !== 'running') throw new ConflictError(`container ${c.config.id} is not running`, 'NOT_RUNNING');
  const cmd = body.Cmd;
  if (!Array.isArray(cmd) || cmd.length === 0 || !cmd.every((a) => typeof a === 'string')) throw new ApiError(400, 'No exec command specified');
  const env = body.Env ?? [];
  if (!Array.isArray(env) || !env.every((a) => typeof a === 'string')) throw new ApiError(400, 'invalid Env: expected a list of strings');
  const str = (v: unknown, field: string) => {
    if (v === undefined || v === null || v === '') return undefined;
    if (typeof v !== 'string') throw new ApiError(400, `invalid ${field}: expected a string`);
    return v;
  };
  const user = str(body.User, 'User') ?? c.config.process.user;
  const tty = body.Tty === true;
  const stdin = body.AttachStdin === true;
  const size = Array.isArray(body.ConsoleSize) && body.ConsoleSize.length === 2 ? (body.ConsoleSize as number[]) : undefined;
  const s = ctx.execs.create(c.config.id, {
    args: cmd as string[],
    env: mergeEnv(c.config.process.env, env as string[]),
    cwd: str(body.WorkingDir, 'WorkingDir') ?? c.config.process.cwd,
    ...(user ? { user } : {}),
    tty,
    stdin,
    ...(tty && size && size[0]! > 0 && size[1]! > 0 ? { rows: size[0]!, cols: size[1]! } : {}),
  }, { stdin, stdout: body.AttachStdout !== false, stderr: body.AttachStderr !== false });
  req.reply.json(201, { Id: s.id });
}

/** `POST /exec/{id}/start`: run it, hijacking the connection unless `Detach`. */
export async function startExec(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const body = parseJsonObject(req.body);
  const s = ctx.execs.get(req.params.id!);
  if (s.started) throw new ConflictError(`exec ${s.id} has already been started`, 'EXEC_STARTED');
  const c = await ctx.engine.inspect(s.containerId);
  if (c.state.status !== 'running') throw new ConflictError(`container ${c.config.id} is not running`, 'NOT_RUNNING');
  s.started = true;
  s.running = true;
  const tty = s.spec.tty;
  const frame = framer(tty);
  const detach = body.Detach === true;
  const conn = detach ? undefined : req.reply.hijack(req.upgrade && !tty && compareVersions(req.version, '1.42') >= 0 ? MEDIA_MULTIPLEXED : MEDIA_RAW);
  let stdin: PassThrough | undefined;
  if (conn?.input && s.attach.stdin && s.spec.stdin) {
    // buffered until the session has a stdin to take it
    stdin = new PassThrough();
    conn.input.pipe(stdin);
  } else {
    conn?.input?.resume(); // discarded
  }
  const run = ctx.engine.exec(c, s.spec, {
    ...(stdin ? { stdin } : {}),
    onOutput: (stream, data) => {
      if (conn && !conn.closed && s.attach[stream]) void conn.write(frame(stream, data));
    },
    onResizer: (resize) => (s.resize = resize),
  });
  if (detach) req.reply.empty(200);
  try {
    const result = await run;
    if (result.error && conn && !conn.closed) await conn.write(frame('stderr', Buffer.from(`nestbox: ${result.error}\n`)));
    s.exitCode = result.exitCode;
  } catch (err) {
    s.exitCode = 126;
    if (conn && !conn.closed) await conn.write(frame('stderr', Buffer.from(`nestbox: exec failed: ${(err as Error).message}\n`)));
  } finally {
    s.running = false;
    s.finishedAt = Date.now();
    delete s.resize;
    conn?.end();
  }
}

/** `GET /exec/{id}/json`. */
export function inspectExec(ctx: DockerContext, req: ApiRequest): void {
  const s = ctx.execs.get(req.params.id!);
  req.reply.json(200, {
    ID: s.id,
    Running: s.running,
    ExitCode: s.exitCode,
    ProcessConfig: { tty: s.spec.tty, entrypoint: s.spec.args[0], arguments: s.spec.args.slice(1), privileged: false, user: s.spec.user ?? '' },
    OpenStdin: s.attach.stdin,
    OpenStdout: s.attach.stdout,
    OpenStderr: s.attach.stderr,
    CanRemove: false,
    ContainerID: s.containerId,
    DetachKeys: '',
    Pid: 0,
  });
}

/** `POST /exec/{id}/resize?h=&w=`. */
export function resizeExec(ctx: DockerContext, req: ApiRequest): void {
  const s = ctx.execs.get(req.params.id!);
  const { rows, cols } = parseSize(req.query);
  s.resize?.(rows, cols);
  req.reply.empty(200);
}

export function parseSize(q: URLSearchParams): { rows: number; cols: number } {
  const rows = Number(q.get('h'));
  const cols = Number(q.get('w'));
  const ok = (n: number) => Number.isInteger(n) && n > 0 && n < 65536;
  if (!ok(rows) || !ok(cols)) throw new ApiError(400, `invalid size h=${q.get('h')} w=${q.get('w')}: use integers 1-65535`);
  return { rows, cols };
}
