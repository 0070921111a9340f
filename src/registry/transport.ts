/**
 * HTTP to one registry over Node's fetch (undici), with what registries need and fetch does not
 * do by itself: authorization by scope (auth.ts), redirects followed by hand so credentials are
 * never sent to another host (blob CDNs), a time limit on waiting for response headers, and
 * retries of idempotent requests on 5xx answers and network errors.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { RegistryError } from '../core/errors.js';
import { Authenticator } from './auth.js';
import type { Credentials } from './credentials.js';
import { checkScheme, type Endpoint } from './endpoint.js';
import { extraCaDispatcher } from './extra-ca.js';

const MAX_REDIRECTS = 5;

export interface TransportOptions {
  /** Time to wait for response headers, and the longest pause in a body (default 60 s). */
  timeoutMs?: number;
  /** Extra attempts for GET/HEAD on 5xx or network errors (default 2). */
  retries?: number;
}

export interface RequestOptions {
  headers?: Record<string, string>;
  body?: RequestInit['body'];
  /** Token scopes the request needs, e.g. `repository:library/alpine:pull`. */
  scopes: readonly string[];
  /** What the request is for, in errors: `manifest docker.io/library/alpine:latest`. */
  what: string;
}

/** A response whose body may still be read; `abort` tears it down (the idle timer uses it). */
export interface OpenResponse {
  response: Response;
  abort: (reason?: unknown) => void;
  url: URL;
}

export function timeoutFromEnv(): number {
  const v = Number(process.env.NESTBOX_REGISTRY_TIMEOUT_MS);
  return Number.isFinite(v) && v > 0 ? v : 60_000;
}

export class Transport {
  readonly auth: Authenticator;
  readonly timeoutMs: number;
  private readonly retries: number;

  constructor(readonly endpoint: Endpoint, creds: Credentials | undefined, options: TransportOptions = {}) {
    this.timeoutMs = options.timeoutMs ?? timeoutFromEnv();
    this.retries = options.retries ?? 2;
    this.auth = new Authenticator(endpoint, creds, async (url, headers, limit, what) => {
      const open = await this.send(url, { method: 'GET', headers });
      return { status: open.response.status, body: await this.readAll(open, limit, what) };
    });
  }

  url(path: string): URL {
    return new URL(path, this.endpoint.base);
  }

  /** Send, answering one auth challenge and following redirects; any status is returned. */
  async request(method: string, target: URL | string, opts: RequestOptions): Promise<OpenResponse> {
    const idempotent = method === 'GET' || method === 'HEAD';
    for (let attempt = 0; ; attempt++) {
      try {
        const open = await this.authorized(method, typeof target === 'string' ? this.url(target) : target, opts);
        if (idempotent && open.response.status >= 500 && attempt < this.retries) {
          open.abort();
          await sleep(200 * 2 ** attempt);
          continue;
        }
        return open;
      } catch (err) {
        if (!idempotent || attempt >= this.retries || err instanceof RegistryError) throw this.wrap(err, opts.what);
        await sleep(200 * 2 ** attempt);
      }
    }
  }

  private async authorized(method: string, url: URL, opts: RequestOptions): Promise<OpenResponse> {
    let sent = await this.auth.header(opts.scopes);
    let open = await this.follow(method, url, opts, sent);
    if (open.response.status === 401 && (await this.auth.onUnauthorized(open.response, opts.scopes, sent))) {
      open.abort();
      sent = await this.auth.header(opts.scopes);
      open = await this.follow(method, url, opts, sent);
    }
    return open;
  }

  /** Follow redirects by hand: Authorization goes only to the registry's own origin. */
  private async follow(method: string, start: URL, opts: RequestOptions, authorization: string | undefined): Promise<OpenResponse> {
    const origin = new URL(this.endpoint.base).origin;
    let url = start;
    for (let hop = 0; ; hop++) {
      checkScheme(url, this.endpoint, opts.what);
      const headers: Record<string, string> = { ...opts.headers };
      if (authorization && url.origin === origin) headers.authorization = authorization;
      const open = await this.send(url, { method, headers, ...(opts.body !== undefined ? { body: opts.body, duplex: 'half' } : {}) } as RequestInit);
      const status = open.response.status;
      const location = open.response.headers.get('location');
      if (![301, 302, 303, 307, 308].includes(status) || location === null || method === 'PUT' || method === 'POST' || method === 'PATCH') return open;
      open.abort();
      if (hop >= MAX_REDIRECTS) throw new RegistryError(`${opts.what}: more than ${MAX_REDIRECTS} redirects`, 'REGISTRY_PROTOCOL');
      try {
        url = new URL(location, url);
      } catch {
        throw new RegistryError(`${opts.what}: bad redirect location \`${location.slice(0, 200)}\``, 'REGISTRY_PROTOCOL');
      }
    }
  }

  /** One fetch with a deadline for the response headers; the caller owns the body. */
  private async send(url: URL, init: RequestInit): Promise<OpenResponse> {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new Error(`no answer from ${url.host} within ${this.timeoutMs} ms`)), this.timeoutMs);
    try {
      const dispatcher = url.protocol === 'https:' ? await extraCaDispatcher() : undefined;
      // `dispatcher` is undici's (Node's fetch) own option, missing from the DOM RequestInit type
      const options = { ...init, redirect: 'manual', signal: controller.signal, ...(dispatcher ? { dispatcher } : {}) } as RequestInit;
      const response = await fetch(url, options);
      return { response, url, abort: (reason) => controller.abort(reason ?? new Error('aborted')) };
    } catch (err) {
      throw controller.signal.aborted ? controller.signal.reason : err;
    } finally {
      clearTimeout(timer);
    }
  }

  /**
   * The body as a stream of chunks, aborted when no byte arrives for the time limit (a server
   * that stops sending mid-body fails instead of hanging the pull).
   */
  async *chunks(open: OpenResponse, what: string): AsyncGenerator<Uint8Array> {
    const body = open.response.body;
    if (!body) return;
    let timer: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => open.abort(new RegistryError(`${what}: ${this.endpoint.domain} sent nothing for ${this.timeoutMs} ms`, 'REGISTRY_UNAVAILABLE')), this.timeoutMs);
    };
    arm();
    try {
      for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
        arm();
        yield chunk;
      }
    } catch (err) {
      throw this.wrap(err instanceof Error && err.name === 'AbortError' && err.cause ? err.cause : err, what);
    } finally {
      clearTimeout(timer);
    }
  }

  /** The whole body, refused when larger than `limit` bytes (declared or actual). */
  async readAll(open: OpenResponse, limit: number, what: string): Promise<Buffer> {
    const declared = Number(open.response.headers.get('content-length') ?? NaN);
    if (declared > limit) {
      open.abort();
      throw new RegistryError(`${what} is ${declared} bytes, more than the ${limit} allowed`, 'REGISTRY_PROTOCOL');
    }
    const parts: Buffer[] = [];
    let size = 0;
    for await (const chunk of this.chunks(open, what)) {
      size += chunk.length;
      // Throwing out of the loop cancels the body.
      if (size > limit) throw new RegistryError(`${what} is more than the ${limit} bytes allowed`, 'REGISTRY_PROTOCOL');
      parts.push(Buffer.from(chunk));
    }
    return Buffer.concat(parts);
  }

  wrap(err: unknown, what: string): Error {
    if (err instanceof RegistryError) return err;
    const e = err as Error & { cause?: { code?: string; message?: string; hostname?: string } };
    const code = e.cause?.code;
    const host = new URL(this.endpoint.base).host;
    const detail =
      code === 'ENOTFOUND' || code === 'EAI_AGAIN' ? `cannot resolve ${e.cause?.hostname ?? host} (no DNS or no network?)`
      : code === 'ECONNREFUSED' ? `${host} refused the connection (is the registry running there?)`
      : code === 'ETIMEDOUT' || code === 'UND_ERR_CONNECT_TIMEOUT' ? `no connection to ${host} (timed out)`
      : code ?? e.cause?.message ?? e.message;
    return new RegistryError(`${what}: registry ${this.endpoint.domain} failed: ${detail}`, 'REGISTRY_UNAVAILABLE', { cause: err });
  }
}
