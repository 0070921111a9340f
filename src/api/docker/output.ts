import type { Container } from '../../core/container.js';
import { readLogs, type LogOptions } from '../../core/logs.js';
import type { StreamOut } from '../reply.js';
import { framer } from '../stream.js';

export interface PumpOptions extends LogOptions {
  stdout: boolean;
  stderr: boolean;
  timestamps?: boolean;
}

/** Copy the container's log to a client, framed (multiplexed unless TTY), until done or aborted. */
export async function pumpLogs(c: Container, out: StreamOut, opts: PumpOptions): Promise<void> {
  const frame = framer(c.config.process.tty);
  const atLineStart = { stdout: true, stderr: true };
  for await (const e of readLogs(c, opts)) {
    if (out.closed) return;
    if (!(e.stream === 'stdout' ? opts.stdout : opts.stderr)) continue;
    let data = e.data;
    if (opts.timestamps) {
      const stamp = e.timeNs !== undefined ? rfc3339Nano(e.timeNs) : new Date().toISOString();
      data = Buffer.from(stampLines(e.data.toString('utf8'), stamp, atLineStart[e.stream]));
      atLineStart[e.stream] = e.data.at(-1) === 10;
    }
    if (data.length) await out.write(frame(e.stream, data));
  }
}

function stampLines(text: string, stamp: string, atStart: boolean): string {
  return text.replace(/(^|\n)(?=.)/gs, (m, nl: string) => (nl || atStart ? `${nl}${stamp} ` : m));
}

export function rfc3339Nano(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}
