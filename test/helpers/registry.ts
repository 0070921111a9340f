// Real-registry fixtures for nestbox's pull/push/login tests (issue 3). Import everything from here.
//
// REGISTRY — a real `docker-registry serve` (distribution v2.8.2) with its own temp storage
//   const reg = await startRegistry();                       // auth: 'none'
//   const reg = await startRegistry({ auth: { htpasswd: { user: 'u', password: 'p' } } });
//   const ts  = await startTokenServer({ users: { u: 'p' }, anonymousPull: ['library/busybox'] });
//   const reg = await startRegistry({ auth: { token: ts } });
//   reg.host   '127.0.0.1:PORT' (plain HTTP, loopback only)      reg.url  'http://127.0.0.1:PORT'
//   reg.dir    temp dir (config.yml, htpasswd, data/)            reg.logs()  the registry's output
//   await reg.stop()   SIGTERM, then SIGKILL after 3 s; removes the dir. Also `await using reg = …`.
//   Storage delete is enabled (DELETE of manifests/blobs works). `configure(cfg)` may edit the
//   config object before it is written (it is JSON, which the registry reads as YAML).
//   The process runs under `setpriv --pdeathsig KILL`, and a process 'exit' hook kills it and
//   removes its dir, so a crashed or killed test leaves nothing behind.
//
// TOKEN SERVER (test/helpers/token-server.ts) — distribution's token spec, JWTs signed RS256
//   startTokenServer({ users?, issuer?, service?, anonymousPull?, expiresIn?, keyHeader? })
//   GET /token?service=…&scope=repository:NAME:pull,push (Basic auth optional), and the OAuth2
//   POST /token form (grant_type=password|refresh_token; access_type=offline gives refresh_token).
//   Anonymous: `pull` only on repositories in `anonymousPull`; users: every action asked; a wrong
//   password or unknown user → 401. Answers { token, access_token, expires_in, issued_at }.
//   ts.requests: { method, scopes, user?, service?, status, granted }[] — assert the flow with it.
//   ts.users / ts.anonymousPull can be changed while running; ts.mint(access, {expiresIn}) makes
//   a token directly (e.g. expired). keyHeader 'x5c' (default) or 'kid' (libtrust key ID): the
//   registry accepts both. ts.close() (or `await using`).
//
// FAULT PROXY (test/helpers/fault-proxy.ts) — forwards to a registry, injects faults per request
//   const fp = await startFaultProxy(reg.host, [rule, …]);   fp.host '127.0.0.1:PORT', fp.url
//   A rule: { path: RegExp (tested against the path+query), method?: 'GET'…, times?: N, fault }
//   The first matching rule with `times` left applies (times omitted = forever); else forward.
//   fault:
//     { kind: 'status', status: 500, body?, headers? }  answer it instead of forwarding
//     { kind: 'hang' }                                never answer (the socket stays open)
//     { kind: 'truncate', afterBytes: N }             upstream headers (full Content-Length),
//                                                     N body bytes, then the connection is destroyed
//     { kind: 'corrupt' }                             same length, every byte flipped (digest mismatch)
//     { kind: 'raw', body, contentType, status?, headers? }  e.g. a manifest that is not JSON / huge
//     { kind: 'redirect' }                            if upstream says 2xx, answer 307 to
//         http://localhost:OTHERPORT/blob/ID (another host name); that server fetches the real
//         blob upstream with the original request's credentials (like a presigned URL), passes
//         Range through, and records in fp.redirected[] { method, path, authorization?, range? }
//   fp.rules is a plain array: replace or mutate it while running (fp.setRules([...]) too).
//   fp.requests: { method, path, range?, authorization: boolean, status?, fault? }[] (path has no query)
//   fp.count('GET', /\/blobs\//) and fp.ranges(/\/blobs\//) summarise it. fp.reset() clears logs.
//   Every header is forwarded both ways (Authorization, WWW-Authenticate, Range, Docker-*);
//   Location headers that point at the upstream are rewritten to the proxy, so push works
//   through it. fp.close() destroys open connections (including hung ones).
//
// SKOPEO (a client nobody here wrote); Creds = { user, password }; refs are 'HOST/REPO:TAG' or
//   'HOST/REPO@sha256:…' (a 'docker://' prefix is accepted). No creds → --no-creds (anonymous).
//   pushImage(host, archive, 'library/busybox:latest', creds?, format?)  oci-archive or
//       docker-archive, chosen by inspecting the tar unless `format` is given; returns the output
//   skopeoInspect(ref, creds?)        parsed `skopeo inspect` JSON ({ Digest, Architecture, … })
//   skopeoManifestDigest(ref, creds?) 'sha256:…'
//   skopeoCopyToDir(ref, dir, creds?, layout?)  'dir' (default: dir:DIR) or 'oci' (oci:DIR)
//   BUSYBOX_OCI  path of build/images/busybox.oci.tar (made by scripts/setup.sh)
//   ociArchiveManifestDigest(archive)  digest of the archive's (only) manifest
//   All of them throw with skopeo's stderr on failure; `skopeo(args)` runs anything else the same
//   way (--insecure-policy, no user auth files). freePort() gives a loopback port for your own servers.
import { spawn, type ChildProcess } from 'node:child_process';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { extract } from 'tar-stream';
import { REPO, runCommand, type CliResult } from './cli.js';
import type { TokenServer } from './token-server.js';

export { startTokenServer, type TokenServer, type TokenServerOptions, type TokenRequest, type Access } from './token-server.js';
export { startFaultProxy, type FaultProxy, type FaultRule, type Fault, type ProxiedRequest, type RedirectedRequest } from './fault-proxy.js';

export const BUSYBOX_OCI = path.join(REPO, 'build', 'images', 'busybox.oci.tar');

export interface Creds {
  user: string;
  password: string;
}

export type RegistryAuth = 'none' | { htpasswd: Creds } | { token: TokenServer };

export interface RegistryOptions {
  auth?: RegistryAuth;
  /** Edit the registry's config object before it is written. */
  configure?: (config: Record<string, any>) => void;
}

export interface Registry extends AsyncDisposable {
  /** `127.0.0.1:PORT` */
  host: string;
  /** `http://127.0.0.1:PORT` */
  url: string;
  dir: string;
  logs(): string;
  stop(): Promise<void>;
}

const live = new Map<ChildProcess, string>();
process.once('exit', () => {
  for (const [child, dir] of live) {
    if (child.pid && child.exitCode === null && child.signalCode === null) {
      try {
        process.kill(child.pid, 'SIGKILL');
      } catch {
        // already gone
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
});

export async function startRegistry(opts: RegistryOptions = {}): Promise<Registry> {
  const dir = mkdtempSync(path.join(tmpdir(), 'nestbox-registry-'));
  try {
    const authConfig = await writeAuth(dir, opts.auth ?? 'none');
    for (let attempt = 1; ; attempt++) {
      const port = await freePort();
      const config: Record<string, any> = {
        version: 0.1,
        log: { level: 'info', formatter: 'text', accesslog: { disabled: false } },
        storage: { filesystem: { rootdirectory: path.join(dir, 'data') }, delete: { enabled: true } },
        http: { addr: `127.0.0.1:${port}`, secret: 'nestbox-test-secret', headers: { 'X-Content-Type-Options': ['nosniff'] } },
        ...(authConfig ? { auth: authConfig } : {}),
      };
      opts.configure?.(config);
      const configPath = path.join(dir, 'config.yml');
      writeFileSync(configPath, JSON.stringify(config, null, 2));
      const started = await launch(dir, configPath, port);
      if (started !== 'port-in-use') return started;
      if (attempt >= 5) throw new Error('docker-registry: no free port after 5 attempts');
    }
  } catch (err) {
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

async function writeAuth(dir: string, auth: RegistryAuth): Promise<Record<string, unknown> | undefined> {
  if (auth === 'none') return undefined;
  if ('htpasswd' in auth) {
    const { user, password } = auth.htpasswd;
    const r = await runCommand('htpasswd', ['-Bbn', user, password], { timeoutMs: 30_000 });
    if (r.code !== 0) throw new Error(`htpasswd: exit ${r.code}: ${r.stderr}`);
    const file = path.join(dir, 'htpasswd');
    writeFileSync(file, r.stdout);
    return { htpasswd: { realm: 'nestbox-test-registry', path: file } };
  }
  const ts = auth.token;
  return { token: { realm: ts.realm, service: ts.service, issuer: ts.issuer, rootcertbundle: ts.certPath } };
}

async function launch(dir: string, configPath: string, port: number): Promise<Registry | 'port-in-use'> {
  // setpriv --pdeathsig: the registry dies with this process, however this process dies.
  const child = spawn('setpriv', ['--pdeathsig', 'KILL', '/usr/bin/docker-registry', 'serve', configPath], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  live.set(child, dir);
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  child.once('error', (err) => (output += `\nspawn: ${err.message}`));

  const host = `127.0.0.1:${port}`;
  const deadline = Date.now() + 15_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) {
      live.delete(child);
      if (/address already in use/.test(output)) return 'port-in-use';
      throw new Error(`docker-registry exited (${child.exitCode ?? child.signalCode}) before it was ready:\n${output}`);
    }
    const status = await probe(`http://${host}/v2/`);
    if (status === 200 || status === 401) break;
    if (Date.now() > deadline) {
      await kill(child, exited);
      live.delete(child);
      throw new Error(`docker-registry not ready on ${host} after 15 s (last status ${status}):\n${output}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }

  let stopped: Promise<void> | undefined;
  const reg: Registry = {
    host,
    url: `http://${host}`,
    dir,
    logs: () => output,
    stop: () =>
      (stopped ??= (async () => {
        await kill(child, exited);
        live.delete(child);
        rmSync(dir, { recursive: true, force: true });
      })()),
    [Symbol.asyncDispose]: () => reg.stop(),
  };
  return reg;
}

async function kill(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 3000);
  await exited;
  clearTimeout(timer);
}

/** Status of a GET, or 0 when the connection fails. */
function probe(url: string): Promise<number> {
  return new Promise((resolve) => {
    const req = request(url, { timeout: 1000 }, (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('timeout', () => req.destroy());
    req.on('error', () => resolve(0));
    req.end();
  });
}

/** A port that was free a moment ago (listen on 0, close); callers retry if it is taken meanwhile. */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

// ---- skopeo -------------------------------------------------------------------------------

/** Run skopeo hermetically: no user auth files, no policy file. Throws with stderr on failure. */
export async function skopeo(args: string[], timeoutMs = 60_000): Promise<CliResult> {
  const r = await runCommand('skopeo', ['--insecure-policy', ...args], {
    timeoutMs,
    env: { REGISTRY_AUTH_FILE: path.join(tmpdir(), 'nestbox-no-such-auth.json'), DOCKER_CONFIG: path.join(tmpdir(), 'nestbox-no-such-docker-config') },
  });
  if (r.code !== 0) throw new Error(`skopeo ${args.join(' ')}: exit ${r.code ?? r.signal}\n${r.stderr}`);
  return r;
}

function credArgs(prefix: '' | 'dest-' | 'src-', creds?: Creds): string[] {
  return creds ? [`--${prefix}creds`, `${creds.user}:${creds.password}`] : [`--${prefix}no-creds`];
}

function dockerRef(ref: string): string {
  return ref.startsWith('docker://') ? ref : `docker://${ref}`;
}

export type ArchiveFormat = 'oci-archive' | 'docker-archive';

/** Copy an image archive into `registryHost` as `ref` (`REPO:TAG`). Returns skopeo's output. */
export async function pushImage(registryHost: string, archivePath: string, ref: string, creds?: Creds, format?: ArchiveFormat): Promise<CliResult> {
  const fmt = format ?? (await archiveFormat(archivePath));
  return skopeo(['copy', '--dest-tls-verify=false', ...credArgs('dest-', creds), `${fmt}:${archivePath}`, `docker://${registryHost}/${ref}`]);
}

/** Parsed `skopeo inspect` output (Digest, RepoTags, Architecture, Os, Layers, …). */
export async function skopeoInspect(ref: string, creds?: Creds): Promise<Record<string, any>> {
  const r = await skopeo(['inspect', '--tls-verify=false', ...credArgs('', creds), dockerRef(ref)]);
  return JSON.parse(r.stdout) as Record<string, any>;
}

export async function skopeoManifestDigest(ref: string, creds?: Creds): Promise<string> {
  const r = await skopeo(['inspect', '--tls-verify=false', ...credArgs('', creds), '--format', '{{.Digest}}', dockerRef(ref)]);
  return r.stdout.trim();
}

/** Read back what was pushed: `dir:DIR` (default) or an OCI layout `oci:DIR`. */
export async function skopeoCopyToDir(ref: string, dir: string, creds?: Creds, layout: 'dir' | 'oci' = 'dir'): Promise<CliResult> {
  return skopeo(['copy', '--src-tls-verify=false', ...credArgs('src-', creds), dockerRef(ref), `${layout}:${dir}`]);
}

/** The names of the entries of a tar file, with index.json's text if present. */
async function readTar(file: string): Promise<{ names: string[]; index?: string }> {
  const ex = extract();
  const names: string[] = [];
  let index: string | undefined;
  const done = new Promise<void>((resolve, reject) => {
    ex.on('entry', (header, stream, next) => {
      const name = header.name.replace(/^\.\//, '');
      names.push(name);
      const chunks: Buffer[] = [];
      stream.on('data', (d: unknown) => {
        if (name === 'index.json') chunks.push(d as Buffer);
      });
      stream.on('end', () => {
        if (name === 'index.json') index = Buffer.concat(chunks).toString();
        next();
      });
      stream.resume();
    });
    ex.on('finish', resolve);
    ex.on('error', reject);
  });
  createReadStream(file).on('error', (err) => ex.destroy(err)).pipe(ex);
  await done;
  return { names, index };
}

async function archiveFormat(file: string): Promise<ArchiveFormat> {
  const { names } = await readTar(file);
  if (names.includes('oci-layout')) return 'oci-archive';
  if (names.includes('manifest.json')) return 'docker-archive';
  throw new Error(`${file}: neither an OCI archive (oci-layout) nor a docker archive (manifest.json)`);
}

/** Digest of the single manifest an OCI archive's index.json names. */
export async function ociArchiveManifestDigest(file: string): Promise<string> {
  const { index } = await readTar(file);
  if (!index) throw new Error(`${file}: no index.json`);
  const digest = (JSON.parse(index) as { manifests?: { digest?: string }[] }).manifests?.[0]?.digest;
  if (!digest) throw new Error(`${file}: index.json names no manifest`);
  return digest;
}
