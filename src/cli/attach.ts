import type { Container } from '../core/container.js';
import type { Engine } from '../core/engine.js';
import { readLogs } from '../core/logs.js';
import { sendSignal, forwardStdin } from '../core/channel-ops.js';
import { encode } from '../guest/messages.js';
import type { CtlConnection } from '../guest/ctl-client.js';

export interface AttachOptions {
  stdin: boolean;
  tty: boolean;
  /** Replay output from this byte offset of the log (its size before a restart), not from the beginning. */
  fromOffset?: number;
}

/**
 * Stream the main process's output to our stdout/stderr, feed our stdin to it, proxy signals and
 * window size, and return its exit code when the sandbox is gone.
 */
export async function attachAndWait(engine: Engine, c: Container, channel: CtlConnection | undefined, opts: AttachOptions): Promise<number> {
  const cleanups: Array<() => void> = [];
  if (channel && opts.stdin) {
    if (opts.tty && process.stdin.isTTY) {
      process.stdin.setRawMode(true);
      cleanups.push(() => process.stdin.setRawMode(false));
    }
    cleanups.push(forwardStdin(channel, 0, process.stdin));
    cleanups.push(() => process.stdin.pause());
    channel.on('error', () => undefined);
  }
  if (channel && opts.tty && process.stdout.isTTY) {
    const onResize = () => channel.send(encode.resize(0, process.stdout.rows, process.stdout.columns));
    process.stdout.on('resize', onResize);
    cleanups.push(() => process.stdout.off('resize', onResize));
  }
  if (!opts.tty) {
    // sig-proxy: what would have hit a local process goes to the container's process
    for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
      const num = sig === 'SIGINT' ? 2 : sig === 'SIGTERM' ? 15 : 1;
      const handler = () => {
        if (channel && !channel.isClosed) channel.send(encode.kill(0, num));
        else void sendSignal(c.dir, 0, num).catch(() => undefined);
      };
      process.on(sig, handler);
      cleanups.push(() => process.off(sig, handler));
    }
  }
  try {
    for await (const entry of readLogs(c, { follow: true, ...(opts.fromOffset !== undefined ? { fromOffset: opts.fromOffset } : {}) })) {
      const target = entry.stream === 'stderr' ? process.stderr : process.stdout;
      if (!target.write(entry.data)) await new Promise((r) => target.once('drain', r));
    }
    return await engine.wait(c.config.id);
  } finally {
    for (const f of cleanups.reverse()) f();
    await channel?.close();
  }
}
