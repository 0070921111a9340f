import { setTimeout as sleep } from 'node:timers/promises';
import { NotFoundError } from '../../core/errors.js';
import { ApiError, errorReply } from '../http-error.js';
import type { ApiRequest } from '../router.js';
import type { DockerContext } from './context.js';

type Condition = 'not-running' | 'next-exit' | 'removed';

/**
 * `POST /containers/{id}/wait`: headers go out at once (the docker CLI waits for them before it
 * starts the container), the `{"StatusCode": n}` body when the condition is met.
 */
export async function waitContainer(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const condition = parseCondition(req.query.get('condition'));
  let c;
  try {
    c = await ctx.engine.inspect(req.params.id!);
  } catch (err) {
    // a fast --rm container can exit and be removed before the client's wait arrives
    const code = err instanceof NotFoundError ? await ctx.engine.removedExitCode(req.params.id!) : undefined;
    if (code === undefined) throw err;
    return req.reply.json(200, { StatusCode: code });
  }
  const out = req.reply.stream(200, 'application/json');
  try {
    const code = await waitFor(ctx, c.config.id, condition, req.reply.signal);
    await out.write(JSON.stringify({ StatusCode: code }) + '\n');
  } catch (err) {
    if (!req.reply.signal.aborted) await out.write(JSON.stringify({ StatusCode: 125, Error: { Message: errorReply(err).message } }) + '\n');
  } finally {
    out.end();
  }
}

function parseCondition(v: string | null): Condition {
  if (v === null || v === '') return 'not-running';
  if (v === 'not-running' || v === 'next-exit' || v === 'removed') return v;
  throw new ApiError(400, `invalid condition: "${v}"`);
}

async function waitFor(ctx: DockerContext, id: string, condition: Condition, signal: AbortSignal): Promise<number> {
  try {
    return await waitUntil(ctx, id, condition, signal);
  } catch (err) {
    // a fast --rm container can be gone at any step here (removed by whichever reader saw it exit first)
    const code = err instanceof NotFoundError ? await ctx.engine.removedExitCode(id) : undefined;
    if (code === undefined) throw err;
    return code;
  }
}

async function waitUntil(ctx: DockerContext, id: string, condition: Condition, signal: AbortSignal): Promise<number> {
  const { engine, hub } = ctx;
  if (condition !== 'not-running') {
    await hub.nextStart(engine, id, signal);
    // attached clients first drain the output: reading the state may remove a --rm container
    await hub.attachersDone(id);
  }
  const code = await engine.wait(id, signal);
  if (condition === 'removed') {
    while (!signal.aborted) {
      try {
        await engine.inspect(id);
      } catch (err) {
        if (err instanceof NotFoundError) break;
        throw err;
      }
      await sleep(250);
    }
  }
  return code;
}
