import * as net from 'node:net';
import { BackendError } from '../../core/errors.js';
import { connectUnix } from '../../core/unix-socket.js';

/** Minimal QMP client: connect, negotiate capabilities, run commands one at a time. */
export class QmpClient implements AsyncDisposable {
  private buffer = '';
  private waiting: Array<{ resolve: (v: unknown) => void; reject: (e: Error) => void }> = [];
  private greeting: Promise<void>;

  private constructor(private readonly socket: net.Socket) {
    let greeted: () => void;
    let refused: (err: Error) => void;
    this.greeting = new Promise((resolve, reject) => {
      greeted = resolve;
      refused = reject;
    });
    this.greeting.catch(() => undefined);
    socket.setEncoding('utf8');
    socket.on('data', (chunk: string) => {
      this.buffer += chunk;
      if (this.buffer.length > 1 << 20) socket.destroy(new Error('QMP reply over 1 MiB'));
      let nl: number;
      while ((nl = this.buffer.indexOf('\n')) >= 0) {
        const line = this.buffer.slice(0, nl).trim();
        this.buffer = this.buffer.slice(nl + 1);
        if (!line) continue;
        let msg: Record<string, unknown>;
        try {
          msg = JSON.parse(line) as Record<string, unknown>;
        } catch {
          continue;
        }
        if ('QMP' in msg) greeted();
        else if ('return' in msg) this.waiting.shift()?.resolve(msg.return);
        else if ('error' in msg) {
          const e = msg.error as { desc?: string };
          this.waiting.shift()?.reject(new BackendError(`QMP: ${e.desc ?? 'error'}`, 'QMP_ERROR'));
        }
      }
    });
    const fail = (err?: Error) => {
      refused(new BackendError(`QMP connection closed before the greeting${err ? `: ${err.message}` : ''}`, 'QMP_GONE'));
      for (const w of this.waiting.splice(0)) w.reject(new BackendError(`QMP connection closed${err ? `: ${err.message}` : ''}`, 'QMP_GONE'));
    };
    socket.on('error', fail);
    socket.on('close', () => fail());
  }

  static async connect(dir: string, name: string, timeoutMs = 5000): Promise<QmpClient> {
    const sockPath = `${dir}/${name}`;
    const socket = await new Promise<net.Socket>((resolve, reject) => {
      const s = connectUnix(dir, name);
      const timer = setTimeout(() => {
        s.destroy();
        reject(new BackendError(`connect QMP \`${sockPath}\`: timed out`, 'QMP_GONE'));
      }, timeoutMs);
      s.once('connect', () => {
        clearTimeout(timer);
        resolve(s);
      });
      s.once('error', (err) => {
        clearTimeout(timer);
        reject(new BackendError(`connect QMP \`${sockPath}\`: ${err.message}`, 'QMP_GONE'));
      });
    });
    const client = new QmpClient(socket);
    // QEMU may accept and then die before it greets: bound the whole handshake
    const timer = setTimeout(() => socket.destroy(new Error(`no QMP handshake within ${timeoutMs} ms`)), timeoutMs);
    try {
      await client.greeting;
      await client.execute('qmp_capabilities');
    } catch (err) {
      socket.destroy();
      throw err;
    } finally {
      clearTimeout(timer);
    }
    return client;
  }

  execute<T = unknown>(command: string, args?: Record<string, unknown>): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      this.waiting.push({ resolve: resolve as (v: unknown) => void, reject });
      this.socket.write(JSON.stringify(args ? { execute: command, arguments: args } : { execute: command }) + '\n');
    });
  }

  close(): void {
    this.socket.destroy();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    this.close();
  }
}
