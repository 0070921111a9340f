import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, statSync, readFileSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import { parseChallenges } from '../../src/registry/challenge.js';
import { endpointFor, isLoopbackHost, checkScheme } from '../../src/registry/endpoint.js';
import { choosePlatform, parsePlatform } from '../../src/registry/platform.js';
import { findCredentials, removeCredentials, storeCredentials } from '../../src/registry/credentials.js';
import { registryDomain } from '../../src/registry/login.js';
import { LayerProgress } from '../../src/cli/progress.js';

test('WWW-Authenticate: Bearer with quoted params, several challenges, garbage', () => {
  assert.deepEqual(parseChallenges('Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:library/alpine:pull"'), [
    { scheme: 'bearer', params: { realm: 'https://auth.docker.io/token', service: 'registry.docker.io', scope: 'repository:library/alpine:pull' } },
  ]);
  const two = parseChallenges('Basic realm="Registry Realm", Bearer realm="http://x/token",service=reg');
  assert.deepEqual(two.map((c) => c.scheme), ['basic', 'bearer']);
  assert.equal(two[1]!.params.service, 'reg');
  assert.deepEqual(parseChallenges('Bearer realm="a\\"b"')[0]!.params.realm, 'a"b');
  assert.deepEqual(parseChallenges(null), []);
  for (const junk of ['"', '=,=,', 'Bearer ,,,"', '\u0000\u0001']) assert.doesNotThrow(() => parseChallenges(junk));
});

test('endpoints: HTTPS except loopback or --insecure-registry; docker.io maps to registry-1', () => {
  assert.equal(endpointFor('docker.io', []).base, 'https://registry-1.docker.io');
  assert.equal(endpointFor('127.0.0.1:5000', []).base, 'http://127.0.0.1:5000');
  assert.equal(endpointFor('localhost:5000', []).base, 'http://localhost:5000');
  assert.equal(endpointFor('[::1]:5000', []).base, 'http://[::1]:5000');
  assert.equal(endpointFor('reg.example:5000', []).base, 'https://reg.example:5000');
  assert.equal(endpointFor('reg.example:5000', ['reg.example:5000']).base, 'http://reg.example:5000');
  for (const h of ['127.0.0.1', '127.9.9.9:80', 'localhost', '[::1]:1']) assert.ok(isLoopbackHost(h), h);
  for (const h of ['10.0.0.1', 'example.com', '128.0.0.1:5000']) assert.ok(!isLoopbackHost(h), h);
  const secure = endpointFor('ghcr.io', []);
  assert.throws(() => checkScheme(new URL('http://cdn.example/blob'), secure, 'blob'), /plain HTTP/);
  assert.doesNotThrow(() => checkScheme(new URL('https://cdn.example/blob'), secure, 'blob'));
  assert.equal(registryDomain(undefined), 'docker.io');
  assert.equal(registryDomain('https://index.docker.io/v1/'), 'docker.io');
  assert.equal(registryDomain('localhost:5000'), 'localhost:5000');
});

test('platforms: parse, choose, skip attestations, list what an index has', () => {
  assert.deepEqual(parsePlatform('linux/arm64/v8'), { os: 'linux', architecture: 'arm64', variant: 'v8' });
  assert.deepEqual(parsePlatform('x86_64'), { os: 'linux', architecture: 'amd64' });
  assert.throws(() => parsePlatform('linux/'), /invalid --platform/);
  const d = (digit: string, os: string, architecture: string, variant?: string, annotations?: Record<string, string>) => ({
    mediaType: 'application/vnd.oci.image.manifest.v1+json', digest: `sha256:${digit.repeat(64)}`, size: 1,
    platform: { os, architecture, ...(variant ? { variant } : {}) }, ...(annotations ? { annotations } : {}),
  });
  const index = [d('1', 'linux', 'arm', 'v7'), d('2', 'linux', 'arm64', 'v8'), d('3', 'linux', 'amd64'), d('4', 'unknown', 'unknown', undefined, { 'vnd.docker.reference.type': 'attestation-manifest' })];
  assert.equal(choosePlatform(index, { os: 'linux', architecture: 'amd64' }, 'x').digest, index[2]!.digest);
  assert.equal(choosePlatform(index, { os: 'linux', architecture: 'arm64' }, 'x').digest, index[1]!.digest);
  assert.throws(() => choosePlatform(index, { os: 'linux', architecture: 's390x' }, 'image x'), (err: Error) => {
    assert.match(err.message, /no manifest for platform linux\/s390x; it has linux\/arm\/v7, linux\/arm64\/v8, linux\/amd64/);
    assert.doesNotMatch(err.message, /unknown/);
    return true;
  });
});

test('credentials: stored 0600 in a 0700 dir, docker config.json read as a fallback, logout removes', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nestbox-creds-'));
  const saved = { a: process.env.NESTBOX_AUTH_FILE, d: process.env.DOCKER_CONFIG };
  process.env.NESTBOX_AUTH_FILE = path.join(dir, 'nb', 'auth.json');
  process.env.DOCKER_CONFIG = path.join(dir, 'docker');
  try {
    assert.equal(await findCredentials('reg.example'), undefined);
    mkdirSync(process.env.DOCKER_CONFIG);
    writeFileSync(path.join(process.env.DOCKER_CONFIG, 'config.json'), JSON.stringify({ auths: { 'https://index.docker.io/v1/': { auth: Buffer.from('hub:pw').toString('base64') } } }));
    assert.deepEqual(await findCredentials('docker.io'), { username: 'hub', password: 'pw' });
    await storeCredentials('reg.example', { username: 'u', password: 'p:with:colons' });
    assert.equal(statSync(process.env.NESTBOX_AUTH_FILE).mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(process.env.NESTBOX_AUTH_FILE)).mode & 0o777, 0o700);
    assert.deepEqual(await findCredentials('reg.example'), { username: 'u', password: 'p:with:colons' });
    assert.equal(await removeCredentials('reg.example'), true);
    assert.equal(await removeCredentials('reg.example'), false);
    assert.equal(JSON.parse(readFileSync(process.env.NESTBOX_AUTH_FILE, 'utf8')).auths['reg.example'], undefined);
  } finally {
    process.env.NESTBOX_AUTH_FILE = saved.a;
    process.env.DOCKER_CONFIG = saved.d;
    if (saved.a === undefined) delete process.env.NESTBOX_AUTH_FILE;
    if (saved.d === undefined) delete process.env.DOCKER_CONFIG;
    rmSync(dir, { recursive: true, force: true });
  }
});

test('progress: plain lines without a TTY, redrawn bars with one', () => {
  const capture = (isTTY: boolean) => {
    const s = new PassThrough() as PassThrough & { isTTY?: boolean; columns?: number };
    s.isTTY = isTTY;
    s.columns = 100;
    let text = '';
    s.on('data', (c: Buffer) => (text += c.toString()));
    return { s, text: () => text };
  };
  const plain = capture(false);
  const p = new LayerProgress(plain.s as unknown as NodeJS.WriteStream);
  p.message('1: Pulling from lib/x');
  for (let i = 0; i <= 10; i++) p.layer('abc', 'Downloading', i * 100, 1000);
  p.layer('abc', 'Pull complete');
  assert.equal(plain.text(), '1: Pulling from lib/x\nabc: Downloading\nabc: Pull complete\n');
  const tty = capture(true);
  const t = new LayerProgress(tty.s as unknown as NodeJS.WriteStream);
  t.layer('abc', 'Downloading', 500, 1000);
  t.layer('def', 'Waiting');
  t.flush();
  assert.match(tty.text(), /abc: Downloading \[=+>\s+\] 500B\/1000B|abc: Downloading \[=+>\s*\]/);
  assert.match(tty.text(), /\x1b\[2A/, 'redraws in place');
  const quiet = capture(false);
  new LayerProgress(quiet.s as unknown as NodeJS.WriteStream, true).layer('abc', 'Waiting');
  assert.equal(quiet.text(), '');
});
