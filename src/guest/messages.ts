import { randomBytes } from 'node:crypto';
import { GuestProtocolError } from '../core/errors.js';
import { encodeFrame } from './frame.js';
import { FieldWriter, Fields } from './fields.js';
import { ENTROPY_BYTES, MsgType, PROTOCOL_VERSION, Tag, type Frame } from './protocol.js';

/** A process to start in the guest (RUN for the main process, EXEC for a session). */
export interface ProcessSpec {
  args: string[];
  env: string[];
  cwd: string;
  user?: string;
  tty: boolean;
  stdin: boolean;
  rows?: number;
  cols?: number;
}

export interface RunSpec extends ProcessSpec {
  hostname: string;
  readOnly: boolean;
  /** 32 lower-case hex digits for /etc/machine-id (optional: older containers have none). */
  machineId?: string;
  /** MOUNT fields: volumes, host directories and tmpfs to mount in the container (mount-plan.ts). */
  mounts?: string[];
  /** NET fields: NICs, resolvers and hosts lines (net/sandbox-net.ts). */
  net?: string[];
}

/** PREPARE: RUN's identity, network and root without the process, plus an optional warm-up process. */
export interface PrepareSpec {
  hostname: string;
  readOnly: boolean;
  machineId?: string;
  net?: string[];
  /** A process run to completion after the set-up, its output dropped (fills the emulator's code cache). */
  warmup?: ProcessSpec;
}

export type GuestEvent =
  | { kind: 'hello'; session: number; version: number; agent: string; state: string }
  | { kind: 'started'; session: number; pid: number }
  | { kind: 'output'; session: number; stream: 'stdout' | 'stderr'; data: Buffer; timeNs?: bigint }
  | { kind: 'exit'; session: number; code: number; signal?: number; message?: string }
  | { kind: 'error'; session: number; code: 125 | 126 | 127; message: string }
  | { kind: 'ready'; session: number; agent: string }
  | { kind: 'identified'; session: number }
  | { kind: 'prepared'; session: number; code?: number };

/** What REIDENTIFY changes in a running guest: a restored checkpoint's clock and entropy; a fork's hostname and machine-id too. */
export interface Identity {
  hostname?: string;
  machineId?: string;
  /** NET fields (a fork on a network): the agent puts its own MAC and address on the saved NIC. */
  net?: string[];
}

function processFields(spec: ProcessSpec): FieldWriter {
  return new FieldWriter()
    .strs(Tag.ARG, spec.args)
    .strs(Tag.ENV, spec.env)
    .str(Tag.CWD, spec.cwd)
    .str(Tag.USER, spec.user)
    .u32(Tag.TTY, spec.tty ? 1 : 0)
    .u32(Tag.STDIN, spec.stdin ? 1 : 0)
    .u32(Tag.ROWS, spec.rows)
    .u32(Tag.COLS, spec.cols);
}

/** The sandbox's own settings and identity, as RUN and PREPARE carry them: hostname, read-only root, clock, machine-id, fresh entropy. */
function sandboxFields(w: FieldWriter, spec: { hostname: string; readOnly: boolean; machineId?: string }, now: bigint): FieldWriter {
  return w
    .str(Tag.HOSTNAME, spec.hostname)
    .u32(Tag.READONLY, spec.readOnly ? 1 : 0)
    .u64(Tag.TIME_NS, now)
    .str(Tag.MACHINE_ID, spec.machineId)
    .bytes(Tag.ENTROPY, randomBytes(ENTROPY_BYTES));
}

export const encode = {
  hello: () => encodeFrame(MsgType.HELLO, 0, new FieldWriter().u32(Tag.VERSION, PROTOCOL_VERSION).build()),
  /** Also carries the sandbox's identity: clock, machine-id and fresh entropy (a restored template shares the rest). */
  run: (spec: RunSpec, now: bigint = BigInt(Date.now()) * 1_000_000n) =>
    encodeFrame(
      MsgType.RUN,
      0,
      sandboxFields(processFields(spec), spec, now)
        .strs(Tag.MOUNT, spec.mounts ?? [])
        .strs(Tag.NET, spec.net ?? [])
        .build(),
    ),
  /** Everything of a RUN but the process, ahead of it (a warm-pool sandbox); RUN then redoes only what differs. */
  prepare: (spec: PrepareSpec, now: bigint = BigInt(Date.now()) * 1_000_000n) =>
    encodeFrame(
      MsgType.PREPARE,
      0,
      sandboxFields(spec.warmup ? processFields(spec.warmup) : new FieldWriter(), spec, now)
        .strs(Tag.NET, spec.net ?? [])
        .build(),
    ),
  /** Sets the guest clock and reseeds its generator; with a hostname and machine-id, gives it a new identity (a fork). */
  reidentify: (id: Identity, now: bigint = BigInt(Date.now()) * 1_000_000n) =>
    encodeFrame(
      MsgType.REIDENTIFY,
      0,
      new FieldWriter().str(Tag.HOSTNAME, id.hostname).str(Tag.MACHINE_ID, id.machineId).strs(Tag.NET, id.net ?? []).u64(Tag.TIME_NS, now).bytes(Tag.ENTROPY, randomBytes(ENTROPY_BYTES)).build(),
    ),
  exec: (session: number, spec: ProcessSpec) => encodeFrame(MsgType.EXEC, session, processFields(spec).build()),
  stdin: (session: number, data: Uint8Array) => encodeFrame(MsgType.STDIN, session, data),
  kill: (session: number, signal: number) => encodeFrame(MsgType.KILL, session, new FieldWriter().u32(Tag.SIGNAL, signal).build()),
  resize: (session: number, rows: number, cols: number) =>
    encodeFrame(MsgType.RESIZE, session, new FieldWriter().u32(Tag.ROWS, rows).u32(Tag.COLS, cols).build()),
};

/**
 * Turns a frame from the guest into a typed event, checking every value: the guest is hostile.
 * `timestamped` is true for the log port, whose output frames start with a u64 timestamp.
 */
export function decodeGuestFrame(frame: Frame, timestamped = false): GuestEvent {
  const { session } = frame;
  switch (frame.type) {
    case MsgType.STDOUT:
    case MsgType.STDERR: {
      const stream = frame.type === MsgType.STDOUT ? 'stdout' : 'stderr';
      if (!timestamped) return { kind: 'output', session, stream, data: frame.payload };
      if (frame.payload.length < 8) throw new GuestProtocolError(`log frame of ${frame.payload.length} bytes has no timestamp`);
      return { kind: 'output', session, stream, data: frame.payload.subarray(8), timeNs: frame.payload.readBigUInt64LE(0) };
    }
    case MsgType.R_HELLO: {
      const f = Fields.parse(frame.payload);
      return { kind: 'hello', session, version: f.u32(Tag.VERSION) ?? 0, agent: f.str(Tag.AGENT) ?? '', state: f.str(Tag.STATE) ?? '' };
    }
    case MsgType.STARTED: {
      const pid = Fields.parse(frame.payload).u32(Tag.PID);
      if (pid === undefined || pid < 1) throw new GuestProtocolError('STARTED without a valid PID');
      return { kind: 'started', session, pid };
    }
    case MsgType.EXIT: {
      const f = Fields.parse(frame.payload);
      const code = f.i32(Tag.CODE);
      if (code === undefined || code < 0 || code > 255) throw new GuestProtocolError(`EXIT with invalid code ${code}`);
      const signal = f.u32(Tag.SIGNAL);
      if (signal !== undefined && (signal < 1 || signal > 64)) throw new GuestProtocolError(`EXIT with invalid signal ${signal}`);
      const message = f.str(Tag.MESSAGE);
      return { kind: 'exit', session, code, ...(signal ? { signal } : {}), ...(message ? { message } : {}) };
    }
    case MsgType.ERROR: {
      const f = Fields.parse(frame.payload);
      const code = f.i32(Tag.CODE);
      if (code !== 125 && code !== 126 && code !== 127) throw new GuestProtocolError(`ERROR with invalid code ${code}`);
      return { kind: 'error', session, code, message: f.str(Tag.MESSAGE) ?? 'unknown error in the guest' };
    }
    case MsgType.READY:
      return { kind: 'ready', session, agent: Fields.parse(frame.payload).str(Tag.AGENT) ?? '' };
    case MsgType.IDENTIFIED:
      return { kind: 'identified', session };
    case MsgType.PREPARED: {
      const code = Fields.parse(frame.payload).i32(Tag.CODE);
      if (code !== undefined && (code < 0 || code > 255)) throw new GuestProtocolError(`PREPARED with invalid code ${code}`);
      return { kind: 'prepared', session, ...(code !== undefined ? { code } : {}) };
    }
    default:
      throw new GuestProtocolError(`guest sent host-only message type 0x${frame.type.toString(16)}`);
  }
}
