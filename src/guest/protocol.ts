/** Constants of docs/guest-protocol.md (version 1). Both sides are tested against that file. */
export const PROTOCOL_VERSION = 1;
export const HEADER_SIZE = 8;
export const MAX_PAYLOAD = 65536;
export const MAX_STRING = 4096;
export const CTL_PORTS = 4;

export const MsgType = {
  HELLO: 0x01,
  RUN: 0x02,
  EXEC: 0x03,
  STDIN: 0x04,
  KILL: 0x05,
  RESIZE: 0x06,
  REIDENTIFY: 0x07,
  PREPARE: 0x08,
  R_HELLO: 0x81,
  STARTED: 0x82,
  STDOUT: 0x83,
  STDERR: 0x84,
  EXIT: 0x85,
  ERROR: 0x86,
  READY: 0x87,
  IDENTIFIED: 0x88,
  PREPARED: 0x89,
} as const;
export type MsgTypeValue = (typeof MsgType)[keyof typeof MsgType];
const KNOWN_TYPES = new Set<number>(Object.values(MsgType));
export function isKnownType(t: number): t is MsgTypeValue {
  return KNOWN_TYPES.has(t);
}

export const Tag = {
  ARG: 1,
  ENV: 2,
  CWD: 3,
  USER: 4,
  HOSTNAME: 5,
  TTY: 6,
  STDIN: 7,
  ROWS: 8,
  COLS: 9,
  TIME_NS: 10,
  READONLY: 11,
  PID: 12,
  CODE: 13,
  SIGNAL: 14,
  MESSAGE: 15,
  VERSION: 16,
  AGENT: 17,
  STATE: 18,
  MACHINE_ID: 19,
  ENTROPY: 20,
  MOUNT: 21,
  NET: 22,
} as const;

/** Random bytes the host sends in RUN to reseed the guest's generator (32–512 allowed). */
export const ENTROPY_BYTES = 64;

export interface Frame {
  type: MsgTypeValue;
  session: number;
  payload: Buffer;
}
