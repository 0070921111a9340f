import * as http from 'node:http';
import type { Socket } from 'node:net';
import { BackendError } from '../core/errors.js';
import { errorFromReply } from './remote-errors.js';

const API_PREFIX = '/v1.47';

export interface HttpReply {
  status: number;
  body: Buffer;
}

/** A small HTTP/1.1 client for the Docker-compatible API on a unix socket. */
export class HttpClient {
  private readonly agent = new http.Agent({ keepAlive: true, maxSockets: 16 });

  constructor(readonly socketPath: string) {}

  /** A request whose reply is read whole; error statuses become NestboxErrors. */
  async request(method: string, route: string, body?: unknown, headers: Record<string, string> = {}): Promise<HttpReply> {
    const res = await this.open(method, route, body, undefined, headers);
    const buf = await readAll(res);
    if ((res.statusCode ?? 0) >= 400) throw errorFromReply(res.statusCode ?? 0, buf, route);
    return { status: res.statusCode ?? 0, body: buf };
  }

  async json<T>(method: string, route: string, body?: unknown): Promise<T> {
    const r = await this.request(method, route, body);
    return JSON.parse(r.body.toString('utf8')) as T;
  }

  /** A streamed reply (logs, follow): the caller reads it; error statuses are thrown. */
  async stream(method: string, route: string, signal?: AbortSignal): Promise<http.IncomingMessage> {
    const res = await this.open(method, route, undefined, signal);
    if ((res.statusCode ?? 0) >= 400) throw errorFromReply(res.statusCode ?? 0, await readAll(res), route);
    return res;
  }

  /** A hijacked connection (`Upgrade: tcp`), as the docker CLI does for exec and attach. */
  upgrade(method: string, route: string, body: unknown): Promise<Socket> {
    const data = Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request({
        socketPath: this.socketPath,
        method,
        path: API_PREFIX + route,
        agent: false,
        headers: { Connection: 'Upgrade', Upgrade: 'tcp', 'Content-Type': 'application/json', 'Content-Length': data.length },
      });
      req.once('upgrade', (_res, socket: Socket, head: Buffer) => {
        if (head.length) socket.unshift(head);
        resolve(socket);
      });
      req.once('response', (res) => {
        void readAll(res).then((buf) => reject((res.statusCode ?? 0) >= 400 ? errorFromReply(res.statusCode ?? 0, buf, route) : new BackendError(`${method} ${route}: the server did not upgrade the connection (HTTP ${res.statusCode})`, 'PROTOCOL')));
      });
      req.once('error', (err) => reject(connectError(this.socketPath, err)));
      req.end(data);
    });
  }

  close(): void {
    this.agent.destroy();
  }

  private open(method: string, route: string, body?: unknown, signal?: AbortSignal, extra: Record<string, string> = {}): Promise<http.IncomingMessage> {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    return new Promise((resolve, reject) => {
      const req = http.request({
        socketPath: this.socketPath,
        method,
        path: API_PREFIX + route,
        agent: this.agent,
        ...(signal ? { signal } : {}),
        headers: { ...extra, ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}) },
      });
      req.once('response', resolve);
      req.once('error', (err) => reject(connectError(this.socketPath, err)));
      req.end(data);
    });
  }
}

function connectError(socketPath: string, err: Error): Error {
  const code = (err as NodeJS.ErrnoException).code;
  if (err.name === 'AbortError') return err;
  if (code === 'ENOENT' || code === 'ECONNREFUSED') return new BackendError(`connect \`${socketPath}\`: is \`nestbox serve\` running? (${code})`, 'SERVER_UNREACHABLE', { cause: err });
  return new BackendError(`request to \`${socketPath}\`: ${err.message}`, 'SERVER_UNREACHABLE', { cause: err });
}

function readAll(res: http.IncomingMessage): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    res.on('data', (d: Buffer) => chunks.push(d));
    res.once('end', () => resolve(Buffer.concat(chunks)));
    res.once('error', reject);
  });
}
