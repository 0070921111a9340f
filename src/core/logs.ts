import type { Container } from './container.js';
import { childExit, isProcessAlive } from './proc.js';
import { FrameFileReader } from '../guest/frame-file.js';
import { sandboxFiles } from '../vm/sandbox-files.js';

export interface LogEntry {
  stream: 'stdout' | 'stderr';
  data: Buffer;
  /** Guest wall clock when the bytes were read, ns since the epoch. */
  timeNs?: bigint;
}

export interface LogOptions {
  follow?: boolean;
  /** Only the last N lines. */
  tail?: number;
  signal?: AbortSignal;
  /** Start at this byte offset of the log (its size when a client attached), not at the beginning. */
  fromOffset?: number;
}

/**
 * The main process's output, from the log file QEMU (or the shim) appends to. With `follow`,
 * keeps yielding until the sandbox's monitor is gone and the file is drained.
 */
export async function* readLogs(c: Container, opts: LogOptions = {}): AsyncGenerator<LogEntry> {
  const reader = new FrameFileReader(sandboxFiles(c.dir).log, true, opts.fromOffset ?? 0);
  const initial = toEntries(await reader.readNew());
  yield* opts.tail !== undefined ? lastLines(initial, opts.tail) : initial;
  if (reader.error) throw reader.error; // what was valid before a bad frame has been shown
  if (!opts.follow) return;
  const live = () => !isProcessAlive(c.state.pid, c.state.pidStart);
  for await (const e of reader.follow(live, opts.signal, undefined, childExit(c.state.pid))) {
    if (e.kind === 'output') yield { stream: e.stream, data: e.data, ...(e.timeNs !== undefined ? { timeNs: e.timeNs } : {}) };
  }
}

function toEntries(events: Awaited<ReturnType<FrameFileReader['readNew']>>): LogEntry[] {
  const out: LogEntry[] = [];
  for (const e of events) {
    if (e.kind === 'output') out.push({ stream: e.stream, data: e.data, ...(e.timeNs !== undefined ? { timeNs: e.timeNs } : {}) });
  }
  return out;
}

/** Split entries into lines (per stream) and keep the last `n` (linear: partial lines are chunk lists). */
export function lastLines(entries: LogEntry[], n: number): LogEntry[] {
  if (n <= 0) return [];
  const lines: LogEntry[] = [];
  const partial: Partial<Record<LogEntry['stream'], { first: LogEntry; chunks: Buffer[] }>> = {};
  const finish = (stream: LogEntry['stream'], tail: Buffer) => {
    const p = partial[stream];
    delete partial[stream];
    return p ? { ...p.first, data: Buffer.concat([...p.chunks, tail]) } : undefined;
  };
  for (const e of entries) {
    const data = e.data;
    let start = 0;
    for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, start)) {
      const piece = data.subarray(start, i + 1);
      lines.push(finish(e.stream, piece) ?? { ...e, data: piece });
      if (lines.length > 2 * n) lines.splice(0, lines.length - n);
      start = i + 1;
    }
    if (start < data.length) {
      const rest = data.subarray(start);
      const p = partial[e.stream];
      if (p) p.chunks.push(rest);
      else partial[e.stream] = { first: e, chunks: [rest] };
    }
  }
  for (const stream of ['stdout', 'stderr'] as const) {
    const last = finish(stream, Buffer.alloc(0));
    if (last) lines.push(last);
  }
  return lines.slice(-n);
}
