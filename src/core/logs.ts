import type { Container } from './container.js';
import { isProcessAlive } from './proc.js';
import { FrameFileReader } from '../guest/frame-file.js';
import { sandboxFiles } from '../vm/qemu/command.js';

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
  /** Skip what was logged before the call (attach to a restarted container). */
  onlyNew?: boolean;
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
  if (!opts.onlyNew) yield* opts.tail !== undefined ? lastLines(initial, opts.tail) : initial;
  if (!opts.follow) return;
  const live = () => !isProcessAlive(c.state.pid, c.state.pidStart);
  for await (const e of reader.follow(live, opts.signal)) {
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

/** Split entries into lines (per stream) and keep the last `n`. */
export function lastLines(entries: LogEntry[], n: number): LogEntry[] {
  if (n <= 0) return [];
  const lines: LogEntry[] = [];
  const partial: Partial<Record<LogEntry['stream'], LogEntry>> = {};
  for (const e of entries) {
    let data = e.data;
    const head = partial[e.stream];
    if (head) {
      data = Buffer.concat([head.data, data]);
      delete partial[e.stream];
    }
    let start = 0;
    for (let i = data.indexOf(10); i >= 0; i = data.indexOf(10, start)) {
      lines.push({ ...e, data: data.subarray(start, i + 1) });
      start = i + 1;
    }
    if (start < data.length) partial[e.stream] = { ...e, data: data.subarray(start) };
  }
  for (const p of Object.values(partial)) if (p) lines.push(p);
  return lines.slice(-n);
}
