import { BackendError } from '../core/errors.js';
import { connectUnix } from '../core/unix-socket.js';

/**
 * One request to a VM container's waiter over `runtime.sock` (`start`, `kill N`): a line out, a
 * line back. Rejects when the waiter is gone or does not answer in time.
 */
export function ctrlRequest(dir: string, line: string, timeoutMs: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connectUnix(dir, 'runtime.sock');
    let text = '';
    const timer = setTimeout(() => finish(new BackendError(`the container's waiter did not answer "${line}" within ${timeoutMs} ms`, 'WAITER_TIMEOUT')), timeoutMs);
    const finish = (err?: Error) => {
      clearTimeout(timer);
      socket.destroy();
      if (err) reject(err);
      else resolve(text.split('\n')[0] ?? '');
    };
    socket.once('connect', () => socket.write(`${line}\n`));
    socket.on('data', (d: Buffer) => {
      text += d.toString('utf8');
      if (text.includes('\n')) finish();
    });
    socket.once('end', () => (text ? finish() : finish(new BackendError('the container\'s waiter closed the connection without an answer', 'WAITER_GONE'))));
    socket.once('error', (err) => finish(new BackendError(`the container's waiter is not reachable: ${err.message}`, 'WAITER_GONE')));
  });
}
