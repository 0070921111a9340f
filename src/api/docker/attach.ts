import type { Container } from '../../core/container.js';
import { forwardStdin } from '../../core/channel-ops.js';
import { CtlConnection } from '../../guest/ctl-client.js';
import type { ApiRequest } from '../router.js';
import { MEDIA_MULTIPLEXED, MEDIA_RAW } from '../stream.js';
import { compareVersions } from '../version.js';
import { pumpLogs } from './output.js';
import { flag, type DockerContext } from './context.js';

const isLive = (c: Container) => c.state.status === 'running' || c.state.status === 'paused';

/**
 * `POST /containers/{id}/attach`: hijack the connection, stream the main process's output (from
 * the log, from the moment of attaching) and feed the client's input to its stdin. The docker CLI
 * attaches before it starts the container, so a not-running container is waited for.
 */
export async function attachContainer(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const c = await ctx.engine.inspect(req.params.id!);
  const id = c.config.id;
  const q = req.query;
  const want = { stdin: flag(q, 'stdin'), stdout: flag(q, 'stdout'), stderr: flag(q, 'stderr'), stream: flag(q, 'stream'), logs: flag(q, 'logs') };
  const tty = c.config.process.tty;
  const contentType = req.upgrade && !tty && compareVersions(req.version, '1.42') >= 0 ? MEDIA_MULTIPLEXED : MEDIA_RAW;
  const fromOffset = want.logs ? 0 : await ctx.engine.logSize(c);
  const conn = req.reply.hijack(contentType);
  const signal = req.reply.signal;
  const input = want.stdin && c.config.openStdin ? conn.input : undefined;
  // no stdin wanted: discard input (the docker CLI half-closes at once; that is not leaving)
  if (conn.input && !input) conn.input.resume();
  const cleanups: Array<() => void | Promise<void>> = [];
  let onStart: ((v: { c: Container; channel: CtlConnection | undefined }) => void) | undefined;
  const startedHere = new Promise<{ c: Container; channel: CtlConnection | undefined }>((resolve) => (onStart = resolve));
  const unregister = ctx.hub.attach(id, { stdin: input !== undefined, started: (sc, channel) => onStart!({ c: sc, channel }) });
  try {
    if (!want.stream) {
      await pumpLogs(c, conn, { stdout: want.stdout, stderr: want.stderr, fromOffset: 0 });
      return;
    }
    let target = c;
    let channel: CtlConnection | undefined;
    if (!isLive(c)) {
      const aborted = new Promise<undefined>((resolve) => signal.addEventListener('abort', () => resolve(undefined), { once: true }));
      const external = ctx.hub.nextStart(ctx.engine, id, signal).then(() => ({ c: undefined, channel: undefined }));
      const got = await Promise.race([startedHere, external, aborted]);
      if (!got) return;
      target = got.c ?? (await ctx.engine.store.get(id));
      channel = got.channel;
    }
    if (input && !channel && isLive(target)) channel = await openStdinChannel(target).catch(() => undefined);
    if (channel) {
      const ch = channel;
      ch.on('error', () => undefined);
      ctx.hub.channels.set(id, ch);
      cleanups.push(() => void (ctx.hub.channels.get(id) === ch && ctx.hub.channels.delete(id)));
      cleanups.push(() => ch.close());
      if (input) {
        cleanups.push(forwardStdin(ch, 0, input));
        input.resume();
      }
    }
    await pumpLogs(target, conn, { follow: true, signal, fromOffset, stdout: want.stdout, stderr: want.stderr });
  } finally {
    for (const f of cleanups.reverse()) await f();
    conn.end();
    unregister();
  }
}

async function openStdinChannel(c: Container): Promise<CtlConnection> {
  const ch = await CtlConnection.open(c.dir, 5000);
  await ch.hello(10_000);
  return ch;
}
