import * as http from 'node:http';
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import type { Duplex } from 'node:stream';
import type { Engine } from '../core/engine.js';
import { VERSION } from '../core/version.js';
import { ConflictError } from '../core/errors.js';
import type { ListenAddress } from './address.js';
import { readBody } from './body.js';
import { ApiError, errorReply } from './http-error.js';
import { ResponseReply, SocketReply, type Headers, type Reply } from './reply.js';
import type { Router } from './router.js';
import { readUpgradeBody } from './upgrade-body.js';
import { API_VERSION, splitVersion } from './version.js';
import { DockerContext } from './docker/context.js';
import { dockerRouter } from './docker/routes.js';
import { addNativeRoutes } from './native/routes.js';

export interface ApiServerOptions {
  /** Where to report requests that failed with a server error. */
  log?: (line: string) => void;
}

/**
 * The Docker Engine API over node:http. Requests become `ApiRequest`s for the routes in
 * src/api/docker; the core never sees HTTP. Hijacked connections (attach, exec) come in as upgrades.
 */
export class ApiServer {
  private readonly http: http.Server;
  private readonly ctx: DockerContext;
  private readonly router: Router;
  private readonly upgraded = new Set<Duplex>();
  private readonly log: (line: string) => void;
  private socketPath: string | undefined;

  constructor(engine: Engine, opts: ApiServerOptions = {}) {
    this.ctx = new DockerContext(engine);
    this.router = addNativeRoutes(dockerRouter(this.ctx), this.ctx);
    this.log = opts.log ?? (() => undefined);
    this.http = http.createServer({ requestTimeout: 0, headersTimeout: 60_000, keepAliveTimeout: 5_000 });
    this.http.on('request', (req, res) => void this.dispatch(req, new ResponseReply(res, headers()), false, (limit) => readBody(req, limit), req));
    this.http.on('upgrade', (req: http.IncomingMessage, socket: Duplex, head: Buffer) => {
      // a hijacked stream is half-closed by the client when its stdin ends: keep writing to it
      socket.allowHalfOpen = true;
      this.upgraded.add(socket);
      socket.on('close', () => this.upgraded.delete(socket));
      void this.dispatch(req, new SocketReply(socket, headers()), true, () => readUpgradeBody(req, socket, head));
    });
    this.http.on('clientError', (_err, socket) => {
      if (socket.writable) socket.end('HTTP/1.1 400 Bad Request\r\nConnection: close\r\n\r\n');
    });
  }

  /** `stream`: the request's body, for a route that reads it itself (not for an upgraded connection). */
  private async dispatch(req: http.IncomingMessage, reply: Reply, upgrade: boolean, body: (limit?: number) => Promise<Buffer>, stream?: AsyncIterable<Buffer>): Promise<void> {
    const method = req.method ?? 'GET';
    if (process.env.NESTBOX_API_DEBUG) this.log(`${method} ${req.url}${upgrade ? ' (upgrade)' : ''}`);
    try {
      const url = new URL(req.url ?? '/', 'http://docker');
      const { version, path: route } = splitVersion(url.pathname);
      const { handler, params, maxBody, stream: streamed } = this.router.match(method, route);
      if (streamed && !stream) throw new ApiError(400, `${method} ${route} takes its body as a stream, not on an upgraded connection`);
      // a streamed body that stops arriving ends its request (its handler sees an error), not hangs it
      if (streamed) req.setTimeout(STREAM_IDLE_MS, () => req.destroy(new Error(`the request body stopped arriving for ${STREAM_IDLE_MS / 1000} s`)));
      const buf = streamed ? Buffer.alloc(0) : await body(maxBody);
      await handler({ method, path: route, version, params, query: url.searchParams, headers: req.headers, body: buf, ...(streamed ? { stream } : {}), upgrade, reply });
    } catch (err) {
      const { status, message, code } = errorReply(err);
      if (status >= 500) this.log(`${method} ${req.url}: ${status} ${message}`);
      if (!reply.started) {
        try {
          reply.json(status, { message, ...(code ? { code } : {}) });
        } catch {
          // the client is gone
        }
      }
    }
  }

  async listen(addr: ListenAddress): Promise<void> {
    if (addr.kind === 'tcp') {
      await new Promise<void>((resolve, reject) => {
        this.http.once('error', reject);
        this.http.listen(addr.port, addr.host, () => resolve());
      });
      return;
    }
    await fs.mkdir(path.dirname(addr.path), { recursive: true, mode: 0o755 });
    await removeStaleSocket(addr.path);
    await new Promise<void>((resolve, reject) => {
      this.http.once('error', reject);
      this.http.listen(addr.path, () => resolve());
    });
    this.socketPath = addr.path;
    await fs.chmod(addr.path, 0o660);
  }

  /** Stop accepting, end open streams; containers keep running (they do not depend on us). */
  async close(): Promise<void> {
    const closed = new Promise<void>((resolve) => this.http.close(() => resolve()));
    this.http.closeAllConnections();
    for (const s of this.upgraded) s.destroy();
    await this.ctx.close();
    await closed;
    if (this.socketPath) await fs.rm(this.socketPath, { force: true });
  }
}

/** How long a streamed request body may pause. */
const STREAM_IDLE_MS = Number(process.env.NESTBOX_STREAM_IDLE_MS ?? 60_000);

function headers(): Headers {
  return { 'Api-Version': API_VERSION, 'Docker-Experimental': 'false', Ostype: 'linux', Server: `Docker/${VERSION} (linux) nestbox` };
}

/** A socket file left by a server that died is removed; one that answers is an error. */
async function removeStaleSocket(file: string): Promise<void> {
  const st = await fs.lstat(file).catch(() => undefined);
  if (!st) return;
  if (!st.isSocket()) throw new ConflictError(`listen \`${file}\`: exists and is not a socket`);
  const live = await new Promise<boolean>((resolve) => {
    const s = net.connect(file);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
  });
  if (live) throw new ConflictError(`listen \`${file}\`: another server is already listening there`);
  await fs.rm(file, { force: true });
}
