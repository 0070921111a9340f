import type { Reply } from './reply.js';
import { ApiError } from './http-error.js';

/** What a handler sees: no node:http objects, only the parsed request and a way to answer. */
export interface ApiRequest {
  method: string;
  path: string;
  /** API version the client asked for (from the `/v1.xx` prefix). */
  version: string;
  params: Record<string, string>;
  query: URLSearchParams;
  headers: Record<string, string | string[] | undefined>;
  /** The request body (already bounded by the server); empty on a `stream` route. */
  body: Buffer;
  /** A `stream` route's body, unread: the handler reads (and bounds) it as it arrives. */
  stream?: AsyncIterable<Buffer>;
  /** True when the client asked to upgrade the connection (hijack). */
  upgrade: boolean;
  reply: Reply;
}

export type Handler = (req: ApiRequest) => Promise<void> | void;

interface Route {
  method: string;
  pattern: RegExp;
  names: string[];
  handler: Handler;
  /** Largest request body this route takes (default: the server's, 1 MiB). */
  maxBody?: number;
  /** The handler reads the body itself, as it arrives (`ApiRequest.stream`), and bounds it. */
  stream?: boolean;
}

/** Method + path patterns like `/containers/:id/json`; a `:name` matches one segment (an image name may hold `/`, see `*name`). */
export class Router {
  private readonly routes: Route[] = [];

  on(method: string, path: string, handler: Handler, opts: { maxBody?: number; stream?: boolean } = {}): this {
    const names: string[] = [];
    const source = path.replace(/[.]/g, '\\.').replace(/([:*])(\w+)/g, (_m, kind: string, name: string) => {
      names.push(name);
      return kind === '*' ? '(.+?)' : '([^/]+)';
    });
    this.routes.push({ method, pattern: new RegExp(`^${source}$`), names, handler, ...opts });
    return this;
  }

  match(method: string, path: string): { handler: Handler; params: Record<string, string>; maxBody?: number; stream?: boolean } {
    let pathMatched = false;
    for (const r of this.routes) {
      const m = r.pattern.exec(path);
      if (!m) continue;
      pathMatched = true;
      if (r.method !== method && !(r.method === 'GET' && method === 'HEAD')) continue;
      const params: Record<string, string> = {};
      r.names.forEach((n, i) => (params[n] = decodeURIComponent(m[i + 1]!)));
      return { handler: r.handler, params, ...(r.maxBody ? { maxBody: r.maxBody } : {}), ...(r.stream ? { stream: true } : {}) };
    }
    if (pathMatched) throw new ApiError(405, `method ${method} is not allowed on ${path}`);
    throw new ApiError(404, `page not found: ${method} ${path} is not supported by nestbox`);
  }
}
