import { ApiError } from '../http-error.js';
import type { ApiRequest } from '../router.js';
import { MEDIA_MULTIPLEXED, MEDIA_RAW } from '../stream.js';
import { compareVersions } from '../version.js';
import { pumpLogs } from './output.js';
import { flag, type DockerContext } from './context.js';

/** `GET /containers/{id}/logs?stdout&stderr&follow&tail&timestamps` (multiplexed unless TTY). */
export async function containerLogs(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const q = req.query;
  const stdout = flag(q, 'stdout');
  const stderr = flag(q, 'stderr');
  if (!stdout && !stderr) throw new ApiError(400, 'Bad parameters: you must choose at least one stream');
  const tailRaw = q.get('tail');
  let tail: number | undefined;
  if (tailRaw !== null && tailRaw !== '' && tailRaw !== 'all') {
    tail = Number(tailRaw);
    if (!Number.isInteger(tail)) throw new ApiError(400, `invalid tail "${tailRaw}": use a number of lines or "all"`);
    if (tail < 0) tail = undefined; // dockerd: negative means all
  }
  const c = await ctx.engine.inspect(req.params.id!);
  const tty = c.config.process.tty;
  const out = req.reply.stream(200, !tty && compareVersions(req.version, '1.42') >= 0 ? MEDIA_MULTIPLEXED : MEDIA_RAW);
  try {
    await pumpLogs(c, out, {
      stdout,
      stderr,
      follow: flag(q, 'follow'),
      timestamps: flag(q, 'timestamps'),
      signal: req.reply.signal,
      ...(tail !== undefined ? { tail } : {}),
    });
  } finally {
    out.end();
  }
}
