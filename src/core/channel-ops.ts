import type { Readable } from 'node:stream';
import { CtlConnection } from '../guest/ctl-client.js';
import { encode, type GuestEvent, type ProcessSpec } from '../guest/messages.js';
import { MAX_PAYLOAD } from '../guest/protocol.js';
import { BackendError } from './errors.js';

/** Deliver a signal to a session (0 = the main process) through a short-lived ctl connection. */
export async function sendSignal(dir: string, session: number, signal: number): Promise<void> {
  const ctl = await CtlConnection.open(dir, 5000);
  try {
    await ctl.hello(10_000);
    ctl.send(encode.kill(session, signal));
  } finally {
    await ctl.close();
  }
}

/** Pipe a host stream into a session's stdin as STDIN frames; EOF becomes an empty frame. */
export function forwardStdin(ctl: CtlConnection, session: number, input: Readable): () => void {
  const onData = (chunk: Buffer) => {
    for (let i = 0; i < chunk.length; i += MAX_PAYLOAD) ctl.send(encode.stdin(session, chunk.subarray(i, i + MAX_PAYLOAD)));
  };
  const onEnd = () => ctl.send(encode.stdin(session, Buffer.alloc(0)));
  input.on('data', onData);
  input.once('end', onEnd);
  return () => {
    input.off('data', onData);
    input.off('end', onEnd);
  };
}

export interface ExecIO {
  stdin?: Readable;
  onOutput: (stream: 'stdout' | 'stderr', data: Buffer) => void;
  /** Called with a function that resizes the session's pty. */
  onResizer?: (resize: (rows: number, cols: number) => void) => void;
}

export interface ExecResult {
  exitCode: number;
  /** Set when the command could not be started (126/127/125). */
  error?: string;
}

/** Run a process in the running sandbox (exec session 1 on a ctl connection of our own). */
export async function execInSandbox(dir: string, spec: ProcessSpec, io: ExecIO): Promise<ExecResult> {
  const ctl = await CtlConnection.open(dir, 10_000);
  try {
    await ctl.hello(10_000);
    const session = 1;
    const result = new Promise<ExecResult>((resolve, reject) => {
      let error: string | undefined;
      ctl.on('event', (e: GuestEvent) => {
        if (e.session !== session) return;
        if (e.kind === 'output') io.onOutput(e.stream, e.data);
        else if (e.kind === 'error') error = e.message;
        else if (e.kind === 'exit') resolve({ exitCode: e.code, ...(error ? { error } : {}) });
      });
      ctl.once('error', reject);
      ctl.once('close', () => reject(new BackendError('the sandbox went away during exec (the container stopped?)', 'GUEST_GONE')));
    });
    ctl.send(encode.exec(session, spec));
    const stop = io.stdin && spec.stdin ? forwardStdin(ctl, session, io.stdin) : undefined;
    io.onResizer?.((rows, cols) => ctl.send(encode.resize(session, rows, cols)));
    try {
      return await result;
    } finally {
      stop?.();
    }
  } finally {
    await ctl.close();
  }
}
