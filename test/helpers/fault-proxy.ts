// An HTTP proxy in front of a test registry that injects faults per request (500s, hangs,
// truncated or corrupted blobs, odd manifests, cross-host redirects) and records what the client
// asked for. API documented in test/helpers/registry.ts.
import { randomBytes } from 'node:crypto';
import { createServer, request, type IncomingHttpHeaders, type IncomingMessage, type OutgoingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';

export type Fault =
  | { kind: 'status'; status: number; body?: string | Buffer; headers?: Record<string, string> }
  | { kind: 'hang' }
  | { kind: 'truncate'; afterBytes: number }
  | { kind: 'corrupt' }
  | { kind: 'raw'; body: string | Buffer; contentType: string; status?: number; headers?: Record<string, string> }
  | { kind: 'redirect' };

export interface FaultRule {
  /** Tested against the request's path and query (`/v2/library/busybox/blobs/sha256:…`). */
  path: RegExp;
  /** Only this method (e.g. 'GET'); any when omitted. */
  method?: string;
  /** Apply to this many matching requests, then let them through. Forever when omitted. */
  times?: number;
  fault: Fault;
}

export interface ProxiedRequest {
  method: string;
  /** Path without the query. */
  path: string;
  range?: string;
  authorization: boolean;
  /** Status answered (absent while pending, for hangs and for truncations before headers). */
  status?: number;
  /** The fault applied, if any. */
  fault?: Fault['kind'];
}

export interface RedirectedRequest {
  method: string;
  path: string;
  /** The Authorization header the redirect target received (it should get none). */
  authorization?: string;
  range?: string;
}

export interface FaultProxy extends AsyncDisposable {
  /** `127.0.0.1:PORT` */
  host: string;
  url: string;
  upstream: string;
  /** Mutable: tests may push, splice or replace rules while the proxy runs. */
  rules: FaultRule[];
  setRules(rules: FaultRule[]): void;
  requests: ProxiedRequest[];
  /** The redirect target: `localhost:PORT` (another host name than the proxy's). */
  redirectHost: string;
  redirected: RedirectedRequest[];
  /** Requests with this method whose path equals `path` (string) or matches it (RegExp). */
  count(method: string, path: string | RegExp): number;
  /** Range headers of requests whose path matches, in order. */
  ranges(path: string | RegExp): string[];
  /** Forget recorded requests (rules are kept). */
  reset(): void;
  close(): Promise<void>;
}

const HOP_BY_HOP = new Set(['connection', 'keep-alive', 'transfer-encoding', 'te', 'trailer', 'upgrade', 'proxy-authorization', 'proxy-authenticate']);

export async function startFaultProxy(upstreamHost: string, rules: FaultRule[] = []): Promise<FaultProxy> {
  const hits = new WeakMap<FaultRule, number>();
  const stash = new Map<string, { path: string; authorization?: string }>();

  const pick = (method: string, url: string): FaultRule | undefined =>
    self.rules.find((r) => (!r.method || r.method === method) && r.path.test(url) && (r.times === undefined || (hits.get(r) ?? 0) < r.times));
  const use = (rule: FaultRule, rec: ProxiedRequest): void => {
    hits.set(rule, (hits.get(rule) ?? 0) + 1);
    rec.fault = rule.fault.kind;
  };

  const proxy = createServer((req, res) => {
    const url = req.url ?? '/';
    const method = req.method ?? 'GET';
    const rec: ProxiedRequest = {
      method,
      path: url.split('?')[0]!,
      authorization: req.headers.authorization !== undefined,
      ...(req.headers.range ? { range: req.headers.range } : {}),
    };
    self.requests.push(rec);
    res.on('finish', () => (rec.status = res.statusCode));
    const rule = pick(method, url);
    const fault = rule?.fault;

    if (rule && fault && (fault.kind === 'status' || fault.kind === 'raw' || fault.kind === 'hang')) {
      use(rule, rec);
      req.resume();
      if (fault.kind === 'hang') return;
      const body = fault.kind === 'status' ? (fault.body ?? JSON.stringify({ errors: [{ code: 'UNKNOWN', message: 'injected fault' }] })) : fault.body;
      const type = fault.kind === 'raw' ? fault.contentType : 'application/json';
      res.writeHead(fault.kind === 'status' ? fault.status : (fault.status ?? 200), {
        'Content-Type': type,
        'Content-Length': Buffer.byteLength(body),
        ...fault.headers,
      });
      res.end(method === 'HEAD' ? undefined : body);
      return;
    }

    forward(upstreamHost, req, res, url, (upRes) => {
      const ok = upRes.statusCode !== undefined && upRes.statusCode >= 200 && upRes.statusCode < 300;
      const headers = responseHeaders(upRes.rawHeaders, upstreamHost, self.host);
      if (!rule || !fault || !ok) {
        res.writeHead(upRes.statusCode ?? 502, headers);
        upRes.pipe(res);
        return;
      }
      use(rule, rec);
      if (fault.kind === 'redirect') {
        upRes.destroy();
        const id = randomBytes(8).toString('hex');
        stash.set(id, { path: url, ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}) });
        res.writeHead(307, { Location: `http://${self.redirectHost}/blob/${id}`, 'Content-Length': 0 });
        res.end();
      } else if (fault.kind === 'truncate') {
        res.writeHead(upRes.statusCode!, headers);
        let sent = 0;
        const cut = (): void => {
          upRes.destroy();
          res.destroy();
        };
        if (fault.afterBytes <= 0) {
          res.flushHeaders();
          setImmediate(cut);
          return;
        }
        upRes.on('data', (chunk: Buffer) => {
          if (sent >= fault.afterBytes) return;
          const part = chunk.subarray(0, fault.afterBytes - sent);
          sent += part.length;
          if (sent >= fault.afterBytes) {
            upRes.pause();
            res.write(part, cut);
          } else res.write(part);
        });
        upRes.on('end', cut);
      } else if (fault.kind === 'corrupt') {
        const chunks: Buffer[] = [];
        upRes.on('data', (c: Buffer) => chunks.push(c));
        upRes.on('end', () => {
          const body = Buffer.concat(chunks);
          for (let i = 0; i < body.length; i++) body[i] = body[i]! ^ 0xff;
          res.writeHead(upRes.statusCode!, headers);
          res.end(body);
        });
      }
    });
  });

  // The redirect target: serves the real blob with the stashed credentials, like a presigned URL.
  const target = createServer((req, res) => {
    const url = req.url ?? '/';
    self.redirected.push({
      method: req.method ?? 'GET',
      path: url,
      ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
      ...(req.headers.range ? { range: req.headers.range } : {}),
    });
    const entry = stash.get(/^\/blob\/([0-9a-f]+)$/.exec(url)?.[1] ?? '');
    if (!entry) {
      res.writeHead(404, { 'Content-Length': 0 });
      return void res.end();
    }
    const headers: OutgoingHttpHeaders = { host: upstreamHost };
    if (entry.authorization) headers.authorization = entry.authorization;
    if (req.headers.range) headers.range = req.headers.range;
    const up = request({ host: upstreamHost.split(':')[0], port: upstreamHost.split(':')[1], method: req.method, path: entry.path, headers, agent: false }, (upRes) => {
      res.writeHead(upRes.statusCode ?? 502, responseHeaders(upRes.rawHeaders, upstreamHost, self.host));
      upRes.pipe(res);
    });
    up.on('error', () => res.destroy());
    res.on('close', () => up.destroy());
    up.end();
  });

  const [proxyPort, targetPort] = [await listen(proxy), await listen(target)];
  const self: FaultProxy = {
    host: `127.0.0.1:${proxyPort}`,
    url: `http://127.0.0.1:${proxyPort}`,
    upstream: upstreamHost,
    rules,
    setRules: (r) => void (self.rules = r),
    requests: [],
    redirectHost: `localhost:${targetPort}`,
    redirected: [],
    count: (method, p) => self.requests.filter((r) => r.method === method && matches(r.path, p)).length,
    ranges: (p) => self.requests.filter((r) => r.range !== undefined && matches(r.path, p)).map((r) => r.range!),
    reset: () => {
      self.requests.length = 0;
      self.redirected.length = 0;
    },
    close: async () => {
      await Promise.all([proxy, target].map((s) => close(s)));
    },
    [Symbol.asyncDispose]: () => self.close(),
  };
  return self;
}

function matches(path: string, p: string | RegExp): boolean {
  return typeof p === 'string' ? path === p : p.test(path);
}

/** Send `req` to the upstream with its headers (Host rewritten); `onResponse` gets the answer. */
function forward(upstreamHost: string, req: IncomingMessage, res: ServerResponse, url: string, onResponse: (r: IncomingMessage) => void): void {
  const headers: IncomingHttpHeaders = {};
  for (const [k, v] of Object.entries(req.headers)) if (!HOP_BY_HOP.has(k)) headers[k] = v;
  headers.host = upstreamHost;
  const [hostname, port] = upstreamHost.split(':');
  const up = request({ host: hostname, port, method: req.method, path: url, headers, agent: false }, onResponse);
  up.on('error', (err) => {
    if (res.headersSent) return void res.destroy();
    res.writeHead(502, { 'Content-Type': 'text/plain' });
    res.end(`fault proxy: upstream ${upstreamHost}: ${err.message}`);
  });
  res.on('close', () => up.destroy());
  req.pipe(up);
}

/** Upstream headers as a flat [name, value, …] list, minus hop-by-hop ones, Location pointed at the proxy. */
function responseHeaders(raw: string[], upstreamHost: string, proxyHost: string): string[] {
  const out: string[] = [];
  for (let i = 0; i + 1 < raw.length; i += 2) {
    const name = raw[i]!;
    let value = raw[i + 1]!;
    if (HOP_BY_HOP.has(name.toLowerCase())) continue;
    if (name.toLowerCase() === 'location' && value.startsWith(`http://${upstreamHost}/`)) {
      value = `http://${proxyHost}/${value.slice(`http://${upstreamHost}/`.length)}`;
    }
    out.push(name, value);
  }
  return out;
}

function listen(server: Server): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port));
  });
}

function close(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}
