import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { existsSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { processesMatching } from '../helpers/cli.js';
import {
  BUSYBOX_OCI,
  ociArchiveManifestDigest,
  pushImage,
  skopeo,
  skopeoCopyToDir,
  skopeoInspect,
  skopeoManifestDigest,
  startFaultProxy,
  startRegistry,
  startTokenServer,
  type Registry,
} from '../helpers/registry.js';

// The registry fixtures (real docker-registry, token server, fault proxy) checked with skopeo,
// a client nobody here wrote, so nestbox's pull/push tests stand on known-good ground.
const creds = { user: 'alice', password: 's3cret' };
const started: Registry[] = [];
const cleanups: (() => Promise<void>)[] = [];
after(async () => {
  for (const c of cleanups.reverse()) await c();
  for (const reg of started) {
    assert.equal(existsSync(reg.dir), false, `${reg.dir} removed`);
    assert.deepEqual(await processesMatching(reg.dir), [], 'no registry process left');
  }
});

async function registry(opts: Parameters<typeof startRegistry>[0] = {}): Promise<Registry> {
  const reg = await startRegistry(opts);
  started.push(reg);
  cleanups.push(() => reg.stop());
  return reg;
}

function tempDir(): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'nestbox-fixture-'));
  cleanups.push(async () => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

const archiveDigest = await ociArchiveManifestDigest(BUSYBOX_OCI);

test('open registry: skopeo pushes the busybox OCI archive and reads back the same digest', async () => {
  const reg = await registry();
  await pushImage(reg.host, BUSYBOX_OCI, 'library/busybox:latest');
  const info = await skopeoInspect(`${reg.host}/library/busybox:latest`);
  assert.equal(info.Digest, archiveDigest, 'an OCI manifest is pushed unchanged');
  assert.equal(info.Architecture, 'amd64');
  assert.equal(await skopeoManifestDigest(`${reg.host}/library/busybox:latest`), archiveDigest);
  assert.match(reg.logs(), /GET \/v2\//, 'access log captured');

  // A docker-archive is recognised too (it becomes a Docker schema 2 manifest).
  const tar = path.join(tempDir(), 'busybox.docker.tar');
  await skopeo(['copy', '--src-tls-verify=false', `docker://${reg.host}/library/busybox:latest`, `docker-archive:${tar}:busybox:latest`]);
  await pushImage(reg.host, tar, 'library/busybox:docker');
  const docker = await skopeoInspect(`${reg.host}/library/busybox:docker`);
  assert.equal(docker.Layers.length, info.Layers.length);
});

test('htpasswd registry: push needs the credentials', async () => {
  const reg = await registry({ auth: { htpasswd: creds } });
  await assert.rejects(pushImage(reg.host, BUSYBOX_OCI, 'library/busybox:latest'), /unauthorized|authentication required/i);
  await assert.rejects(pushImage(reg.host, BUSYBOX_OCI, 'library/busybox:latest', { ...creds, password: 'wrong' }));
  await pushImage(reg.host, BUSYBOX_OCI, 'library/busybox:latest', creds);
  assert.equal(await skopeoManifestDigest(`${reg.host}/library/busybox:latest`, creds), archiveDigest);
  await assert.rejects(skopeoInspect(`${reg.host}/library/busybox:latest`));
});

test('token registry: skopeo gets a push token from the token server', async () => {
  const ts = await startTokenServer({ users: { [creds.user]: creds.password } });
  cleanups.push(() => ts.close());
  const reg = await registry({ auth: { token: ts } });
  await pushImage(reg.host, BUSYBOX_OCI, 'team/busybox:1', creds);
  assert.ok(
    ts.requests.some((r) => r.user === creds.user && r.scopes.some((s) => /^repository:team\/busybox:.*push/.test(s))),
    JSON.stringify(ts.requests),
  );
  assert.equal(await skopeoManifestDigest(`${reg.host}/team/busybox:1`, creds), archiveDigest);

  await assert.rejects(skopeoInspect(`${reg.host}/team/busybox:1`), 'anonymous pull is not granted yet');
  await assert.rejects(skopeoInspect(`${reg.host}/team/busybox:1`, { ...creds, password: 'wrong' }));
  assert.ok(ts.requests.some((r) => r.status === 401), 'a wrong password is refused by the token server');
  ts.anonymousPull.push('team/busybox');
  assert.equal((await skopeoInspect(`${reg.host}/team/busybox:1`)).Digest, archiveDigest);
  const anon = ts.requests.at(-1)!;
  assert.equal(anon.user, undefined);
  assert.deepEqual(anon.granted.flatMap((a) => a.actions), ['pull']);
  await assert.rejects(pushImage(reg.host, BUSYBOX_OCI, 'team/busybox:2'), 'anonymous never gets push');
});

test('token registry also accepts kid-identified tokens', async () => {
  const ts = await startTokenServer({ users: { [creds.user]: creds.password }, keyHeader: 'kid' });
  cleanups.push(() => ts.close());
  const reg = await registry({ auth: { token: ts } });
  await pushImage(reg.host, BUSYBOX_OCI, 'k/busybox:1', creds);
  assert.equal(await skopeoManifestDigest(`${reg.host}/k/busybox:1`, creds), archiveDigest);
});

test('fault proxy: pass-through push, injected 500, odd manifest, corrupted blob, cross-host redirect', async () => {
  const reg = await registry({ auth: { htpasswd: creds } });
  const fp = await startFaultProxy(reg.host);
  cleanups.push(() => fp.close());

  // Push through the proxy: upload Locations are rewritten to the proxy.
  await pushImage(fp.host, BUSYBOX_OCI, 'p/busybox:1', creds);
  assert.ok(fp.count('PATCH', /\/blobs\/uploads\//) + fp.count('PUT', /\/blobs\/uploads\//) > 0, 'uploads went through the proxy');
  assert.equal(await skopeoManifestDigest(`${reg.host}/p/busybox:1`, creds), archiveDigest);
  const ref = `${fp.host}/p/busybox:1`;

  fp.rules.push({ path: /\/manifests\//, fault: { kind: 'status', status: 500 } });
  await assert.rejects(skopeoInspect(ref, creds), /500|internal server error|unknown/i);
  assert.ok(fp.requests.some((r) => r.fault === 'status' && r.status === 500));

  fp.setRules([{ path: /\/manifests\//, method: 'GET', fault: { kind: 'raw', body: 'this is not json', contentType: 'application/vnd.oci.image.manifest.v1+json' } }]);
  await assert.rejects(skopeoInspect(ref, creds));

  fp.setRules([{ path: /\/blobs\/sha256:/, method: 'GET', fault: { kind: 'corrupt' } }]);
  await assert.rejects(skopeoCopyToDir(ref, tempDir(), creds), /digest/i);

  fp.setRules([{ path: /\/blobs\/sha256:/, method: 'GET', fault: { kind: 'redirect' } }]);
  fp.reset();
  const out = tempDir();
  await skopeoCopyToDir(ref, out, creds);
  assert.ok(readdirSync(out).includes('manifest.json'));
  assert.ok(fp.requests.some((r) => r.status === 307 && r.authorization), 'the proxy saw credentials, then redirected');
  assert.ok(fp.redirected.length > 0, 'the redirect target served the blobs');
  assert.deepEqual(fp.redirected.filter((r) => r.authorization), [], 'skopeo drops Authorization on a cross-host redirect');
});

test('fault proxy: truncation then a resumed Range request, hang, request counts', async () => {
  const reg = await registry();
  await pushImage(reg.host, BUSYBOX_OCI, 'library/busybox:latest');
  const layer = (await skopeoInspect(`${reg.host}/library/busybox:latest`)).Layers[0] as string;
  const fp = await startFaultProxy(reg.host, [{ path: /\/blobs\//, method: 'GET', times: 1, fault: { kind: 'truncate', afterBytes: 1000 } }]);
  cleanups.push(() => fp.close());
  const blob = `/v2/library/busybox/blobs/${layer}`;

  const first = await fetch(`${fp.url}${blob}`);
  assert.equal(first.status, 200);
  const received: Buffer[] = [];
  await assert.rejects(async () => {
    for await (const chunk of first.body!) received.push(Buffer.from(chunk));
  });
  const head = Buffer.concat(received);
  assert.equal(head.length, 1000);
  const rest = await fetch(`${fp.url}${blob}`, { headers: { Range: `bytes=${head.length}-` } });
  assert.equal(rest.status, 206);
  const whole = Buffer.concat([head, Buffer.from(await rest.arrayBuffer())]);
  assert.equal(`sha256:${createHash('sha256').update(whole).digest('hex')}`, layer);
  assert.equal(fp.count('GET', blob), 2);
  assert.deepEqual(fp.ranges(blob), ['bytes=1000-']);

  fp.setRules([{ path: /\/manifests\//, fault: { kind: 'hang' } }]);
  await assert.rejects(fetch(`${fp.url}/v2/library/busybox/manifests/latest`, { signal: AbortSignal.timeout(300) }), /timeout|abort/i);
  assert.equal(fp.requests.at(-1)?.fault, 'hang');
});
