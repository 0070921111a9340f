import type { ServerResponse } from 'node:http';
import type { Duplex, Readable } from 'node:stream';
import { STATUS_CODES } from 'node:http';

/** An output stream for a streaming or hijacked response; `write` resolves when there is room again. */
export interface StreamOut {
  write(data: Buffer | string): Promise<void>;
  end(): void;
  readonly closed: boolean;
}

/** A hijacked connection: raw output, and the client's input after the response head (upgrade only). */
export interface HijackConn extends StreamOut {
  input?: Readable;
}

/**
 * How a handler answers, whether the request came as a plain request (node's ServerResponse)
 * or as an upgrade (the raw socket). `signal` aborts when the client goes away.
 */
export interface Reply {
  json(status: number, body: unknown): void;
  empty(status: number): void;
  text(status: number, body: string): void;
  stream(status: number, contentType: string): StreamOut;
  hijack(contentType: string): HijackConn;
  readonly signal: AbortSignal;
  readonly started: boolean;
}

export type Headers = Record<string, string>;

/** Reply over node's ServerResponse (plain requests; a "hijack" is a streamed 200). */
export class ResponseReply implements Reply {
  private readonly ac = new AbortController();
  started = false;

  constructor(
    private readonly res: ServerResponse,
    private readonly headers: Headers,
  ) {
    res.on('close', () => this.ac.abort('client went away'));
  }

  get signal(): AbortSignal {
    return this.ac.signal;
  }

  json(status: number, body: unknown): void {
    const text = JSON.stringify(body) + '\n';
    this.started = true;
    this.res.writeHead(status, { ...this.headers, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(text) });
    this.res.end(text);
  }

  empty(status: number): void {
    this.started = true;
    this.res.writeHead(status, this.headers);
    this.res.end();
  }

  text(status: number, body: string): void {
    this.started = true;
    this.res.writeHead(status, { ...this.headers, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
    this.res.end(body);
  }

  stream(status: number, contentType: string): StreamOut {
    this.started = true;
    this.res.writeHead(status, { ...this.headers, 'Content-Type': contentType });
    this.res.flushHeaders();
    return writableOut(this.res, () => this.res.end());
  }

  hijack(contentType: string): HijackConn {
    return this.stream(200, contentType);
  }
}

/** Reply over the raw socket of an upgrade request (`Connection: Upgrade`, `Upgrade: tcp`). */
export class SocketReply implements Reply {
  private readonly ac = new AbortController();
  started = false;

  constructor(
    private readonly socket: Duplex,
    private readonly headers: Headers,
  ) {
    socket.on('close', () => this.ac.abort('client went away'));
    socket.on('error', () => undefined);
  }

  get signal(): AbortSignal {
    return this.ac.signal;
  }

  private head(status: number, extra: Headers, reason = STATUS_CODES[status] ?? ''): string {
    const all = { ...this.headers, ...extra };
    return `HTTP/1.1 ${status} ${reason}\r\n${Object.entries(all).map(([k, v]) => `${k}: ${v}\r\n`).join('')}\r\n`;
  }

  json(status: number, body: unknown): void {
    const text = JSON.stringify(body) + '\n';
    this.started = true;
    this.socket.end(this.head(status, { 'Content-Type': 'application/json', 'Content-Length': String(Buffer.byteLength(text)), Connection: 'close' }) + text);
  }

  empty(status: number): void {
    this.started = true;
    this.socket.end(this.head(status, { 'Content-Length': '0', Connection: 'close' }));
  }

  text(status: number, body: string): void {
    this.started = true;
    this.socket.end(this.head(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': String(Buffer.byteLength(body)), Connection: 'close' }) + body);
  }

  stream(status: number, contentType: string): StreamOut {
    this.started = true;
    this.socket.write(this.head(status, { 'Content-Type': contentType, Connection: 'close' }));
    return writableOut(this.socket, () => this.socket.end());
  }

  hijack(contentType: string): HijackConn {
    this.started = true;
    this.socket.write(this.head(101, { 'Content-Type': contentType, Connection: 'Upgrade', Upgrade: 'tcp' }, 'UPGRADED'));
    const conn: HijackConn = writableOut(this.socket, () => this.socket.end());
    conn.input = this.socket;
    return conn;
  }
}

function writableOut(w: NodeJS.WritableStream & { destroyed?: boolean; writableEnded?: boolean }, end: () => void): StreamOut {
  const isClosed = () => Boolean(w.destroyed || w.writableEnded);
  return {
    get closed() {
      return isClosed();
    },
    async write(data) {
      if (isClosed()) return;
      if (w.write(data)) return;
      await new Promise<void>((resolve) => {
        const done = () => {
          w.off('drain', done);
          w.off('close', done);
          resolve();
        };
        w.on('drain', done);
        w.on('close', done);
      });
    },
    end() {
      if (!isClosed()) end();
    },
  };
}
