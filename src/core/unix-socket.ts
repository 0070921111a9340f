import * as net from 'node:net';
import * as path from 'node:path';
import { closeSync, openSync } from 'node:fs';

/** sun_path holds 108 bytes; deep state roots give longer socket paths than that. */
const MAX_SUN_PATH = 107;

/**
 * Connect to the unix socket `name` in `dir`. A path too long for sun_path goes through
 * /proc/self/fd/<dirfd>/name, which the kernel resolves like the real directory.
 */
export function connectUnix(dir: string, name: string): net.Socket {
  const full = path.join(dir, name);
  if (Buffer.byteLength(full) <= MAX_SUN_PATH) return net.connect(full);
  const fd = openSync(dir, 'r');
  const socket = net.connect(`/proc/self/fd/${fd}/${name}`);
  const close = () => {
    try {
      closeSync(fd);
    } catch {
      // already closed
    }
  };
  socket.once('connect', close);
  socket.once('error', close);
  return socket;
}
