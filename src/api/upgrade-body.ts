import type { IncomingMessage } from 'node:http';
import type { Duplex } from 'node:stream';
import { ApiError } from './http-error.js';
import { MAX_BODY_BYTES } from './body.js';

/**
 * The body of an upgrade request (e.g. `POST /exec/{id}/start` with `Upgrade: tcp`): node hands
 * over the socket after the headers, so read Content-Length bytes from `head` and the socket and
 * push back whatever follows (the client's stream). Leaves the socket paused.
 */
export async function readUpgradeBody(req: IncomingMessage, socket: Duplex, head: Buffer): Promise<Buffer> {
  socket.pause();
  if (req.headers['transfer-encoding']) throw new ApiError(400, 'chunked bodies are not supported on upgrade requests: send Content-Length');
  const length = Number(req.headers['content-length'] ?? 0);
  if (!Number.isInteger(length) || length < 0) throw new ApiError(400, 'invalid Content-Length');
  if (length > MAX_BODY_BYTES) throw new ApiError(413, `request body of ${length} bytes exceeds the limit of ${MAX_BODY_BYTES} bytes`);
  let buf = head;
  if (buf.length < length) {
    buf = await new Promise<Buffer>((resolve, reject) => {
      const chunks = [head];
      let size = head.length;
      const onData = (d: Buffer) => {
        chunks.push(d);
        size += d.length;
        if (size >= length) finish();
      };
      const onEnd = () => {
        cleanup();
        reject(new ApiError(400, 'unexpected EOF while reading the request body'));
      };
      const cleanup = () => {
        socket.off('data', onData);
        socket.off('end', onEnd);
        socket.off('close', onEnd);
        socket.pause();
      };
      const finish = () => {
        cleanup();
        resolve(Buffer.concat(chunks));
      };
      socket.on('data', onData);
      socket.once('end', onEnd);
      socket.once('close', onEnd);
      socket.resume();
    });
  }
  if (buf.length > length) socket.unshift(buf.subarray(length));
  return buf.subarray(0, length);
}
