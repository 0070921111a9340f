// A Docker/distribution token server for tests (spec: distribution's docs, "Token Authentication
// Specification", "OAuth2 Token Authentication" and "Token Authentication Implementation").
// The registry answers 401 with `WWW-Authenticate: Bearer realm=…,service=…,scope=…`; the client
// asks this server for a JWT (RS256, signed with a throwaway self-signed cert made by `openssl`)
// and retries with `Authorization: Bearer <jwt>`. API documented in test/helpers/registry.ts.
import { createPrivateKey, createHash, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { runCommand } from './cli.js';

export interface TokenServerOptions {
  /** name → password; authenticated users get every action they ask for. */
  users?: Record<string, string>;
  /** `iss` claim; the registry's `auth.token.issuer`. Default `nestbox-test-token`. */
  issuer?: string;
  /** `aud` claim; the registry's `auth.token.service`. Default `nestbox-test-registry`. */
  service?: string;
  /** Repositories anonymous clients may pull (anonymous never gets push). */
  anonymousPull?: string[];
  /** Token lifetime in seconds (`expires_in`). Default 300. */
  expiresIn?: number;
  /** How the JWT names its key: `x5c` (cert chain, default) or `kid` (libtrust key ID). */
  keyHeader?: 'x5c' | 'kid';
}

export interface Access {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenRequest {
  method: string;
  /** Every `scope` asked for, as sent (`repository:NAME:pull,push`). */
  scopes: string[];
  /** The user that authenticated (absent for anonymous requests and failed logins). */
  user?: string;
  service?: string;
  /** HTTP status answered: 200, or 401 for a bad user/password. */
  status: number;
  /** What the token granted. */
  granted: Access[];
}

export interface TokenServer extends AsyncDisposable {
  /** `http://127.0.0.1:PORT` */
  url: string;
  /** The token endpoint (`URL/token`): the registry's `auth.token.realm`. */
  realm: string;
  issuer: string;
  service: string;
  /** PEM certificate: the registry's `auth.token.rootcertbundle`. */
  certPath: string;
  /** Mutable at run time. */
  users: Record<string, string>;
  /** Mutable at run time. */
  anonymousPull: string[];
  /** Every token request, oldest first. */
  requests: TokenRequest[];
  /** Mint a token directly (e.g. an expired one: `expiresIn: -120`). */
  mint(access: Access[], opts?: { user?: string; expiresIn?: number }): string;
  close(): Promise<void>;
}

const liveDirs = new Set<string>();
process.once('exit', () => {
  for (const dir of liveDirs) rmSync(dir, { recursive: true, force: true });
});

export async function startTokenServer(opts: TokenServerOptions = {}): Promise<TokenServer> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nestbox-token-'));
  liveDirs.add(dir);
  const certPath = path.join(dir, 'cert.pem');
  const keyPath = path.join(dir, 'key.pem');
  const r = await runCommand('openssl', [
    'req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-subj', '/CN=nestbox-test-token', '-days', '2',
    '-keyout', keyPath, '-out', certPath,
  ], { timeoutMs: 30_000 });
  if (r.code !== 0) {
    rmSync(dir, { recursive: true, force: true });
    liveDirs.delete(dir);
    throw new Error(`openssl req: exit ${r.code}: ${r.stderr}`);
  }
  const key = createPrivateKey(readFileSync(keyPath));
  const cert = new X509Certificate(readFileSync(certPath));
  const issuer = opts.issuer ?? 'nestbox-test-token';
  const service = opts.service ?? 'nestbox-test-registry';
  const expiresIn = opts.expiresIn ?? 300;
  const keyHeader = opts.keyHeader ?? 'x5c';
  const refreshTokens = new Map<string, string>();

  const header =
    keyHeader === 'x5c'
      ? { typ: 'JWT', alg: 'RS256', x5c: [cert.raw.toString('base64')] }
      : { typ: 'JWT', alg: 'RS256', kid: libtrustKeyId(cert.publicKey) };

  const self: TokenServer = {
    url: '',
    realm: '',
    issuer,
    service,
    certPath,
    users: { ...opts.users },
    anonymousPull: [...(opts.anonymousPull ?? [])],
    requests: [],
    mint: (access, o = {}) => mintJwt(key, header, {
      iss: issuer, sub: o.user ?? '', aud: service, access, expiresIn: o.expiresIn ?? expiresIn,
    }),
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      rmSync(dir, { recursive: true, force: true });
      liveDirs.delete(dir);
    },
    [Symbol.asyncDispose]: () => self.close(),
  };

  const grant = (scopes: string[], user: string | undefined): Access[] =>
    scopes.flatMap((s) => {
      const parsed = parseScope(s);
      if (!parsed) return [];
      const actions = user
        ? parsed.actions
        : parsed.type === 'repository' && self.anonymousPull.includes(parsed.name)
          ? parsed.actions.filter((a) => a === 'pull')
          : [];
      return actions.length ? [{ ...parsed, actions }] : [];
    });

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const u = new URL(req.url ?? '/', 'http://x');
    if (u.pathname !== '/token' || (req.method !== 'GET' && req.method !== 'POST')) {
      return send(res, 404, { errors: [{ code: 'NOT_FOUND', message: `${req.method} ${u.pathname}` }] });
    }
    // GET: query string + optional Basic auth. POST: OAuth2 form (password or refresh_token grant).
    const params = req.method === 'POST' ? new URLSearchParams(await readBody(req)) : u.searchParams;
    const scopes = params.getAll('scope').flatMap((s) => (req.method === 'POST' ? s.split(' ') : [s])).filter(Boolean);
    const record: TokenRequest = { method: req.method, scopes, service: params.get('service') ?? undefined, status: 200, granted: [] };
    self.requests.push(record);

    let user: string | undefined;
    let password: string | undefined;
    if (req.method === 'POST') {
      const grantType = params.get('grant_type');
      if (grantType === 'password') {
        user = params.get('username') ?? '';
        password = params.get('password') ?? '';
      } else if (grantType === 'refresh_token') {
        user = refreshTokens.get(params.get('refresh_token') ?? '');
        if (!user) return deny(res, record, 'unknown refresh token');
        password = self.users[user];
      } else {
        return send(res, 400, { errors: [{ code: 'UNSUPPORTED', message: `grant_type ${grantType}` }] });
      }
    } else {
      const basic = parseBasic(req.headers.authorization);
      if (req.headers.authorization && !basic) return deny(res, record, 'malformed Authorization');
      user = basic?.user;
      password = basic?.password;
    }
    if (user !== undefined) {
      if (!Object.hasOwn(self.users, user) || self.users[user] !== password) {
        return deny(res, record, `bad credentials for ${JSON.stringify(user)}`);
      }
      record.user = user;
    }

    record.granted = grant(scopes, user);
    const issuedAt = new Date();
    const token = self.mint(record.granted, { user });
    const body: Record<string, unknown> = { token, access_token: token, expires_in: expiresIn, issued_at: issuedAt.toISOString() };
    const wantsRefresh = req.method === 'POST' ? params.get('access_type') === 'offline' : params.get('offline_token') === 'true';
    if (user && wantsRefresh) {
      const refresh = randomBytes(16).toString('hex');
      refreshTokens.set(refresh, user);
      body.refresh_token = refresh;
    }
    if (req.method === 'POST') body.scope = scopes.join(' ');
    send(res, 200, body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => send(res, 500, { errors: [{ code: 'UNKNOWN', message: String(err) }] }));
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  self.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  self.realm = `${self.url}/token`;
  return self;
}

/** `repository:NAME:pull,push` → { type, name, actions }; the name may not contain ':' but the type may (`repository(plugin)`). */
export function parseScope(scope: string): Access | undefined {
  const last = scope.lastIndexOf(':');
  const first = scope.indexOf(':');
  if (first < 0 || last === first) return undefined;
  return {
    type: scope.slice(0, first),
    name: scope.slice(first + 1, last),
    actions: scope.slice(last + 1).split(',').filter(Boolean),
  };
}

/** libtrust's key ID: base32 of the first 30 bytes of sha256(DER SubjectPublicKeyInfo), 12 groups of 4 joined by ':'. */
export function libtrustKeyId(publicKey: KeyObject): string {
  const der = publicKey.export({ type: 'spki', format: 'der' });
  const b32 = base32(createHash('sha256').update(der).digest().subarray(0, 30));
  return b32.match(/.{4}/g)!.join(':');
}

function base32(bytes: Uint8Array): string {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = 0;
  let value = 0;
  let out = '';
  for (const b of bytes) {
    value = (value << 8) | b;
    bits += 8;
    while (bits >= 5) {
      out += alphabet[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += alphabet[(value << (5 - bits)) & 31];
  return out;
}

function mintJwt(
  key: KeyObject,
  header: object,
  c: { iss: string; sub: string; aud: string; access: Access[]; expiresIn: number },
): string {
  const now = Math.floor(Date.now() / 1000);
  const claims = {
    iss: c.iss, sub: c.sub, aud: c.aud,
    exp: now + c.expiresIn, nbf: Math.min(now - 10, now + c.expiresIn), iat: now,
    jti: randomBytes(12).toString('hex'),
    access: c.access,
  };
  const signingInput = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
  return `${signingInput}.${b64url(sign('sha256', Buffer.from(signingInput), key))}`;
}

function b64url(data: string | Buffer): string {
  return Buffer.from(data).toString('base64url');
}

function parseBasic(header: string | undefined): { user: string; password: string } | undefined {
  const m = /^Basic\s+(\S+)$/i.exec(header ?? '');
  if (!m) return undefined;
  const decoded = Buffer.from(m[1]!, 'base64').toString();
  const colon = decoded.indexOf(':');
  return colon < 0 ? undefined : { user: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
}

function deny(res: ServerResponse, record: TokenRequest, message: string): void {
  record.status = 401;
  res.setHeader('WWW-Authenticate', 'Basic realm="nestbox-test-token"');
  send(res, 401, { errors: [{ code: 'UNAUTHORIZED', message }] });
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const data = JSON.stringify(body);
  res.writeHead(status, { 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(data) });
  res.end(data);
}

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    let data = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (data += d));
    req.on('end', () => resolve(data));
    req.on('error', reject);
  });
}
