/** Docker's stdcopy framing: `[stream, 0, 0, 0, size(u32 BE)]` then the payload. */
export const StreamType = { stdin: 0, stdout: 1, stderr: 2 } as const;

export const MEDIA_RAW = 'application/vnd.docker.raw-stream';
export const MEDIA_MULTIPLEXED = 'application/vnd.docker.multiplexed-stream';

const MAX_FRAME = 0xffff_ffff;

export function muxFrame(stream: keyof typeof StreamType, data: Buffer): Buffer {
  if (data.length > MAX_FRAME) throw new RangeError(`frame of ${data.length} bytes is too large`);
  const head = Buffer.alloc(8);
  head[0] = StreamType[stream];
  head.writeUInt32BE(data.length, 4);
  return Buffer.concat([head, data]);
}

/** Output for one client: multiplexed frames unless the process has a TTY (then raw bytes). */
export function framer(tty: boolean): (stream: 'stdout' | 'stderr', data: Buffer) => Buffer {
  return tty ? (_s, data) => data : (s, data) => muxFrame(s, data);
}
