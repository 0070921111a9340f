import { describe, it, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { lookup } from 'node:dns/promises';
import { promises as fs, type Stats } from 'node:fs';
import { createServer as createHttpsServer, type Server as HttpsServer } from 'node:https';
import { hostname } from 'node:os';
import * as path from 'node:path';
import { MEDIA, type Descriptor, type Index } from '../../src/image/oci.js';
import { makeOciImage, type OciImageBlobs, type OciImageSpec } from '../../src/image/oci-write.js';
import { sha256Digest } from '../../src/image/digest.js';
import { processesMatching, TestRoot, type CliResult } from '../helpers/cli.js';
import { makeCanary, rawTar, tempDir } from '../image/helpers.js';
import {
  BUSYBOX_OCI,
  freePort,
  pushImage,
  startFaultProxy,
  startRegistry,
  type FaultProxy,
  type Registry,
} from '../helpers/registry.js';

// Issue 3's hostile inputs, against a real registry (docker-registry) behind the fault proxy, with
// the real CLI: each hostile pull fails with exit 125 and an error naming the problem, writes
// nothing outside the store (a canary next to the store stays untouched), lists no partial image,
// and leaves the store usable for a later good pull. Hand-made images go into the registry with
// plain distribution-API PUTs (below), so nothing normalises their hostility on the way.

const creds = { user: 'alice', password: 's3cret' };
const TIMEOUT_MS = 2000;
const MiB = 1024 * 1024;

let reg: Registry;
let regAuth: Registry;
let fp: FaultProxy;
let fpAuth: FaultProxy;
let root: TestRoot;
let scratch: string;
let canary: Awaited<ReturnType<typeof makeCanary>>;
let env: Record<string, string>;
let busyboxLayers: Descriptor[];
const cleanups: (() => Promise<unknown>)[] = [];
/** Verified downloads a failed pull may keep (a valid lower layer of a refused image). */
const keptDownloads: string[] = [];

function store(...parts: string[]): string {
  return path.join(root.dir, 'images', ...parts);
}

function nb(args: string[], extraEnv: Record<string, string> = {}, on = root): Promise<CliResult> {
  return on.nb(args, { env: { ...env, ...extraEnv }, timeoutMs: 60_000, context: () => `registry log:\n${reg.logs().slice(-3000)}` });
}

function pull(ref: string, args: string[] = [], extraEnv: Record<string, string> = {}, on = root): Promise<CliResult> {
  return nb(['pull', ...args, ref], extraEnv, on);
}

function ok(r: CliResult, what: string): void {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
}

function fails(r: CliResult, pattern: RegExp, what: string): void {
  if (process.env.SHOW_STDERR) console.log(`[${what}] ${r.stderr.trim()}`);
  assert.equal(r.code, 125, `${what}: exit ${r.code}, want 125\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  assert.match(r.stderr, pattern, `${what}: stderr`);
}

/** `nestbox images --format json` as `repo:tag` strings. */
async function listed(on = root): Promise<string[]> {
  const r = await nb(['images', '--format', 'json'], {}, on);
  ok(r, 'images');
  return r.stdout.split('\n').filter(Boolean).map((l) => {
    const row = JSON.parse(l) as { Repository: string; Tag: string };
    return `${row.Repository}:${row.Tag}`;
  });
}

async function ls(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).sort();
}

/** After a refused pull: no such image listed, no staging left, no download of `blobs` kept, canary intact. */
async function assertNothingKept(repo: string, blobs: string[] = []): Promise<void> {
  const images = await listed();
  assert.ok(!images.some((i) => i.includes(repo)), `no image of ${repo} listed: ${images.join(', ')}`);
  assert.deepEqual(await ls(store('tmp')), [], 'no staging left in the store');
  const downloads = await ls(store('downloads', 'sha256'));
  for (const d of blobs) assert.ok(!downloads.some((f) => f.startsWith(d.slice(7))), `nothing of ${d} in downloads/: ${downloads.join(', ')}`);
  await canary.assertUntouched();
}

// ---- hand-made images, uploaded with the distribution API -----------------------------------

async function expectStatus(res: Response, want: number, what: string): Promise<void> {
  if (res.status !== want) throw new Error(`${what}: HTTP ${res.status}: ${await res.text()}`);
}

async function uploadBlob(base: string, repo: string, digest: string, bytes: Buffer, authorization?: string): Promise<void> {
  const headers: Record<string, string> = authorization ? { authorization } : {};
  const start = await fetch(`${base}/v2/${repo}/blobs/uploads/`, { method: 'POST', headers });
  await expectStatus(start, 202, `start upload of ${digest}`);
  const url = new URL(start.headers.get('location')!, base);
  url.searchParams.set('digest', digest);
  const put = await fetch(url, { method: 'PUT', headers: { ...headers, 'content-type': 'application/octet-stream' }, body: bytes });
  await expectStatus(put, 201, `upload ${digest}`);
}

async function putManifest(base: string, repo: string, reference: string, bytes: Buffer, mediaType: string, authorization?: string): Promise<void> {
  const res = await fetch(`${base}/v2/${repo}/manifests/${reference}`, {
    method: 'PUT',
    headers: { 'content-type': mediaType, ...(authorization ? { authorization } : {}) },
    body: bytes,
  });
  await expectStatus(res, 201, `put manifest ${repo}:${reference}`);
}

/** Upload an image's blobs and its manifest (under `tag`, or by digest when omitted). */
async function uploadImage(base: string, repo: string, image: OciImageBlobs, tag?: string, authorization?: string): Promise<OciImageBlobs> {
  for (const [digest, bytes] of image.blobs) if (digest !== image.manifestDigest) await uploadBlob(base, repo, digest, bytes, authorization);
  await putManifest(base, repo, tag ?? image.manifestDigest, image.blobs.get(image.manifestDigest)!, MEDIA.ociManifest, authorization);
  return image;
}

function layerDigests(image: OciImageBlobs): string[] {
  const manifest = JSON.parse(image.blobs.get(image.manifestDigest)!.toString()) as { layers: Descriptor[] };
  return manifest.layers.map((l) => l.digest);
}

function image(spec: Partial<OciImageSpec> & { layers: OciImageSpec['layers'] }): OciImageBlobs {
  return makeOciImage({ created: '2024-01-01T00:00:00Z', config: { Cmd: ['/bin/sh'] }, ...spec });
}

function zstd(bytes: Buffer): Buffer {
  const r = spawnSync('zstd', ['-q', '-c', '-3'], { input: bytes, maxBuffer: 64 * MiB });
  if (r.status !== 0) throw new Error(`zstd: ${r.stderr}`);
  return r.stdout;
}


// ---- fixture ------------------------------------------------------------------------------

before(async () => {
  root = new TestRoot();
  cleanups.push(() => root.dispose());
  scratch = await tempDir('nestbox-hostile-');
  cleanups.push(() => fs.rm(scratch, { recursive: true, force: true }));
  canary = await makeCanary(root.dir); // <root>/canary, next to the store <root>/images
  [reg, regAuth] = await Promise.all([startRegistry(), startRegistry({ auth: { htpasswd: creds } })]);
  cleanups.push(() => reg.stop(), () => regAuth.stop());
  [fp, fpAuth] = await Promise.all([startFaultProxy(reg.host, []), startFaultProxy(regAuth.host, [])]);
  cleanups.push(() => fp.close(), () => fpAuth.close());
  await Promise.all([pushImage(reg.host, BUSYBOX_OCI, 'library/busybox:latest'), pushImage(regAuth.host, BUSYBOX_OCI, 'library/busybox:latest', creds)]);
  const m = await fetch(`${reg.url}/v2/library/busybox/manifests/latest`, { headers: { accept: MEDIA.ociManifest } });
  busyboxLayers = ((await m.json()) as { layers: Descriptor[] }).layers;

  // Credentials for the htpasswd registry, as `nestbox login` would store them (keyed by the proxy's host).
  const authFile = path.join(scratch, 'auth.json');
  const auth = Buffer.from(`${creds.user}:${creds.password}`).toString('base64');
  await fs.writeFile(authFile, JSON.stringify({ auths: { [fpAuth.host]: { auth } } }), { mode: 0o600 });
  env = {
    NESTBOX_REGISTRY_TIMEOUT_MS: String(TIMEOUT_MS),
    NESTBOX_AUTH_FILE: authFile,
    DOCKER_CONFIG: path.join(scratch, 'no-docker-config'),
    NESTBOX_INSECURE_REGISTRIES: '',
  };
});

after(async () => {
  for (const c of cleanups.reverse()) await c();
  assert.deepEqual(await processesMatching(root.dir), [], 'no nestbox process left');
  assert.deepEqual(await processesMatching(reg.dir), [], 'no registry left');
  assert.deepEqual(await processesMatching('zstd -d -c'), [], 'no zstd left');
});

describe('registry pull refuses hostile images and registries', () => {
  // 1. Hostile layer entries -------------------------------------------------------------------

  it('refuses a layer entry that climbs out with ../', async () => {
    const img = await uploadImage(reg.url, 'hostile/dotdot', image({ layers: [await rawTar([{ name: 'ok.txt', data: 'fine' }, { name: '../../../../canary/pwned', data: 'escaped' }])] }), '1');
    const r = await pull(`${fp.host}/hostile/dotdot:1`);
    fails(r, /entry `\.\.\/\.\.\/\.\.\/\.\.\/canary\/pwned` escapes the rootfs/, '../ entry');
    assert.match(r.stderr, /unpack layer sha256:[0-9a-f]{12}/, 'the error names the layer');
    await assertNothingKept('hostile/dotdot', layerDigests(img));
  });

  it('refuses a layer entry with an absolute path', async () => {
    const abs = path.join(canary.dir, 'pwned');
    const img = await uploadImage(reg.url, 'hostile/absolute', image({ layers: [await rawTar([{ name: abs, data: 'escaped' }])] }), '1');
    const r = await pull(`${fp.host}/hostile/absolute:1`);
    fails(r, /is an absolute path/, 'absolute entry');
    assert.ok(r.stderr.includes(abs), 'the error names the entry');
    await assertNothingKept('hostile/absolute', layerDigests(img));
  });

  it('refuses a write through a symlink an earlier layer planted', async () => {
    const img = await uploadImage(reg.url, 'hostile/symlink', image({
      layers: [
        await rawTar([{ name: 'esc', type: 'symlink', linkname: canary.dir }, { name: 'up', type: 'symlink', linkname: '../../../..' }]),
        await rawTar([{ name: 'esc/pwned', data: 'through the symlink' }]),
      ],
    }), '1');
    const r = await pull(`${fp.host}/hostile/symlink:1`);
    fails(r, /entry `esc\/pwned` goes through the symlink `esc`/, 'write through symlink');
    // The layer that wrote through the symlink is dropped; the lower one, valid by itself, may stay
    // verified in downloads/ (pull.ts keeps verified downloads; `image prune` removes them).
    await assertNothingKept('hostile/symlink', [layerDigests(img)[1]!]);
    keptDownloads.push(layerDigests(img)[0]!.slice(7));

    const img2 = await uploadImage(reg.url, 'hostile/symlink', image({
      layers: [await rawTar([{ name: 'up', type: 'symlink', linkname: '../../../..' }, { name: 'up/canary/secret', data: 'overwritten' }])],
    }), '2');
    fails(await pull(`${fp.host}/hostile/symlink:2`), /goes through the symlink `up`/, 'same layer');
    await assertNothingKept('hostile/symlink', layerDigests(img2));
  });

  it('refuses hardlinks to paths outside the rootfs', async () => {
    const img = await uploadImage(reg.url, 'hostile/hardlink', image({ layers: [await rawTar([{ name: 'hl', type: 'link', linkname: '../../../../canary/secret' }])] }), '1');
    fails(await pull(`${fp.host}/hostile/hardlink:1`), /entry `hl` is a hardlink to `\.\.\/\.\.\/\.\.\/\.\.\/canary\/secret`, which escapes the rootfs/, 'hardlink ../');
    await assertNothingKept('hostile/hardlink', layerDigests(img));

    const abs = path.join(canary.dir, 'secret');
    await uploadImage(reg.url, 'hostile/hardlink', image({ layers: [await rawTar([{ name: 'hl', type: 'link', linkname: abs }])] }), '2');
    fails(await pull(`${fp.host}/hostile/hardlink:2`), /is a hardlink to `[^`]+canary\/secret`, which is an absolute path/, 'hardlink absolute');
    await assertNothingKept('hostile/hardlink');
  });

  it('keeps device nodes and setuid files inside the private store only', async () => {
    const img = await uploadImage(reg.url, 'hostile/devices', image({
      layers: [await rawTar([
        { name: 'dev/', type: 'directory' },
        { name: 'dev/evil-mem', type: 'character-device', devmajor: 1, devminor: 1, mode: 0o666 },
        { name: 'dev/evil-disk', type: 'block-device', devmajor: 8, devminor: 0, mode: 0o666 },
        { name: 'fifo', type: 'fifo', mode: 0o644 },
        { name: 'bin/', type: 'directory' },
        { name: 'bin/suid', data: '#!/bin/sh\n', mode: 0o4755, uid: 0, gid: 0 },
        { name: 'bin/sgid', data: '#!/bin/sh\n', mode: 0o2755, uid: 0, gid: 0 },
      ])],
    }), '1');
    ok(await pull(`${fp.host}/hostile/devices:1`), 'devices pull');
    const rootfs = store('rootfs', img.chainId.slice(7));
    // layer-applier.ts: nodes are made only when the rootfs is built inside a private (0700)
    // directory, and device nodes only by root (rootless unpacking skips them); modes (setuid
    // included) are kept. The store root and rootfs/ are 0700, so nobody else can reach them.
    for (const dir of [store(), store('rootfs')]) assert.equal((await fs.stat(dir)).mode & 0o777, 0o700, `${dir} is private`);
    const mem = await fs.lstat(path.join(rootfs, 'dev', 'evil-mem')).catch(() => undefined);
    const disk = await fs.lstat(path.join(rootfs, 'dev', 'evil-disk')).catch(() => undefined);
    if (process.getuid?.() === 0) {
      assert.ok(mem?.isCharacterDevice() && mem.rdev === 0x101, 'char device kept inside the store rootfs');
      assert.ok(disk?.isBlockDevice(), 'block device kept inside the store rootfs');
    } else {
      assert.equal(mem, undefined, 'rootless: no device node made');
      assert.equal(disk, undefined, 'rootless: no device node made');
    }
    assert.ok((await fs.lstat(path.join(rootfs, 'fifo'))).isFIFO());
    assert.equal((await fs.stat(path.join(rootfs, 'bin', 'suid'))).mode & 0o7777, 0o4755, 'setuid bit kept as data');
    assert.equal((await fs.stat(path.join(rootfs, 'bin', 'sgid'))).mode & 0o7777, 0o2755, 'setgid bit kept as data');
    // No node anywhere under the state root but in that rootfs.
    assert.deepEqual(await specialFiles(root.dir, rootfs), [], 'no device node or fifo outside the image rootfs');
    await canary.assertUntouched();
    ok(await nb(['rmi', `${fp.host}/hostile/devices:1`]), 'rmi');
  });

  // 2. Decompression bomb ----------------------------------------------------------------------

  it('stops a decompression bomb at NESTBOX_MAX_IMAGE_SIZE', async () => {
    const img = await uploadImage(reg.url, 'hostile/bomb', image({ layers: [await rawTar([{ name: 'zeros', data: Buffer.alloc(24 * MiB) }])] }), '1');
    const layer = layerDigests(img)[0]!;
    assert.ok(img.blobs.get(layer)!.length < 256 * 1024, 'the compressed layer is small');
    const r = await pull(`${fp.host}/hostile/bomb:1`, [], { NESTBOX_MAX_IMAGE_SIZE: '4m' });
    fails(r, /decompression bomb: the image unpacks to more than 4194304 bytes/, 'bomb');
    await assertNothingKept('hostile/bomb', [layer]);
    assert.deepEqual(await ls(store('rootfs')), [], 'no rootfs of it');
    fails(await pull(`${fp.host}/hostile/bomb:1`, [], { NESTBOX_MAX_IMAGE_SIZE: 'lots' }), /invalid NESTBOX_MAX_IMAGE_SIZE "lots"/, 'bad limit');
  });

  // 3. Truncated blob, then a resumed pull --------------------------------------------------------

  it('reports a truncated blob and resumes it with a Range request on the next pull', async () => {
    const layer = busyboxLayers[0]!;
    const afterBytes = Math.floor(layer.size / 2);
    fp.reset();
    fp.setRules([{ path: new RegExp(`/blobs/${layer.digest}$`), method: 'GET', times: 1, fault: { kind: 'truncate', afterBytes } }]);
    const r = await pull(`${fp.host}/library/busybox:latest`);
    fails(r, /truncated/, 'truncated blob');
    assert.ok(r.stderr.includes(layer.digest), `the error names the blob ${layer.digest}`);
    assert.ok(!(await listed()).some((i) => i.includes('library/busybox')), 'no partial image listed');
    const partial = store('downloads', 'sha256', `${layer.digest.slice(7)}.partial`);
    assert.ok((await fs.stat(partial)).size > 0, 'the partial download is kept for resuming');

    fp.setRules([]);
    ok(await pull(`${fp.host}/library/busybox:latest`), 'resumed pull');
    const ranges = fp.ranges(new RegExp(`/blobs/${layer.digest}$`));
    assert.ok(ranges.some((rg) => rg !== undefined && /^bytes=[1-9]\d*-$/.test(rg)), `a Range request resumed the blob: ${JSON.stringify(ranges)}`);
    assert.ok((await listed()).includes(`${fp.host}/library/busybox:latest`));
    assert.deepEqual(await ls(store('downloads', 'sha256')), keptDownloads, 'downloads/ emptied once committed');
  });

  // 4. Digest mismatch ---------------------------------------------------------------------------

  it('refuses a blob whose content does not match its digest, keeping nothing of it', async () => {
    const img = await uploadImage(reg.url, 'hostile/corrupt', image({ layers: [await rawTar([{ name: 'noise', data: randomBytes(256 * 1024) }])] }), '1');
    const layer = layerDigests(img)[0]!;
    fp.setRules([{ path: new RegExp(`/blobs/${layer}$`), method: 'GET', times: 1, fault: { kind: 'corrupt' } }]);
    const r = await pull(`${fp.host}/hostile/corrupt:1`);
    fails(r, /digest mismatch/, 'corrupt blob');
    assert.ok(r.stderr.includes(layer), `the error names the blob ${layer}`);
    await assertNothingKept('hostile/corrupt', [layer]);
    ok(await pull(`${fp.host}/hostile/corrupt:1`), 'a later good pull');
  });

  // 5. Manifests that are not JSON, or huge ------------------------------------------------------

  it('refuses a manifest that is not JSON, and one that is huge', async () => {
    fp.setRules([
      { path: /\/v2\/hostile\/manifest\/manifests\/notjson$/, fault: { kind: 'raw', body: 'this is <not> json', contentType: MEDIA.ociManifest } },
      { path: /\/v2\/hostile\/manifest\/manifests\/huge$/, fault: { kind: 'raw', body: Buffer.alloc(5 * MiB, 0x20), contentType: MEDIA.ociManifest } },
    ]);
    fails(await pull(`${fp.host}/hostile/manifest:notjson`), /manifest sha256:[0-9a-f]{64}.*(not valid JSON|JSON)/i, 'not JSON');
    fails(await pull(`${fp.host}/hostile/manifest:huge`), /manifest .*hostile\/manifest:huge is \d+ bytes, more than the 4194304 allowed/, 'huge');
    fp.setRules([]);
    await assertNothingKept('hostile/manifest');
  });

  it('refuses a manifest whose content is not what its digest names', async () => {
    const img = await uploadImage(reg.url, 'hostile/swap', image({ layers: [await rawTar([{ name: 'a', data: 'a' }])] }), '1');
    const other = image({ layers: [await rawTar([{ name: 'b', data: 'b' }])] });
    const otherBytes = other.blobs.get(other.manifestDigest)!;
    const lie = `sha256:${'0'.repeat(64)}`;
    fp.setRules([
      { path: new RegExp(`/manifests/${img.manifestDigest}$`), fault: { kind: 'raw', body: otherBytes, contentType: MEDIA.ociManifest } },
      { path: /\/v2\/hostile\/swap\/manifests\/lying$/, fault: { kind: 'raw', body: otherBytes, contentType: MEDIA.ociManifest, headers: { 'Docker-Content-Digest': lie } } },
    ]);
    const r = await pull(`${fp.host}/hostile/swap@${img.manifestDigest}`);
    fails(r, new RegExp(`manifest .*hostile/swap@${img.manifestDigest}: digest mismatch: the registry sent content that hashes to ${other.manifestDigest}`), 'by digest');
    fails(await pull(`${fp.host}/hostile/swap:lying`), new RegExp(`digest mismatch: the registry says ${lie}, the content hashes to ${other.manifestDigest}`), 'lying header');
    fp.setRules([]);
    await assertNothingKept('hostile/swap');
  });

  // 6. Index without the host's platform ----------------------------------------------------------

  it('lists the platforms an index has when none matches, and pulls the one --platform names', async () => {
    const layer = async (arch: string) => rawTar([{ name: `arch-${arch}`, data: arch }]);
    const arm = await uploadImage(reg.url, 'hostile/multi', image({ architecture: 'arm64', layers: [await layer('arm64')] }));
    const s390 = await uploadImage(reg.url, 'hostile/multi', image({ architecture: 's390x', layers: [await layer('s390x')] }));
    const att = await uploadImage(reg.url, 'hostile/multi', image({ architecture: 'unknown', os: 'unknown', layers: [await layer('attestation')] }));
    const desc = (img: OciImageBlobs, platform: Descriptor['platform'], annotations?: Record<string, string>): Descriptor => ({
      mediaType: MEDIA.ociManifest,
      digest: img.manifestDigest,
      size: img.blobs.get(img.manifestDigest)!.length,
      platform,
      ...(annotations ? { annotations } : {}),
    });
    const index: Index = {
      schemaVersion: 2,
      mediaType: MEDIA.ociIndex,
      manifests: [
        desc(arm, { os: 'linux', architecture: 'arm64' }),
        desc(att, { os: 'unknown', architecture: 'unknown' }, { 'vnd.docker.reference.type': 'attestation-manifest', 'vnd.docker.reference.digest': arm.manifestDigest }),
        desc(s390, { os: 'linux', architecture: 's390x' }),
      ],
    };
    await putManifest(reg.url, 'hostile/multi', '1', Buffer.from(JSON.stringify(index)), MEDIA.ociIndex);

    const r = await pull(`${fp.host}/hostile/multi:1`);
    fails(r, /no manifest for platform linux\/amd64; it has linux\/arm64, linux\/s390x/, 'no amd64');
    assert.doesNotMatch(r.stderr, /unknown/, 'attestations are not listed');
    await assertNothingKept('hostile/multi');

    ok(await pull(`${fp.host}/hostile/multi:1`, ['--platform', 'linux/arm64']), 'pull --platform linux/arm64');
    const inspect = await nb(['image', 'inspect', `${fp.host}/hostile/multi:1`]);
    ok(inspect, 'inspect');
    const [info] = JSON.parse(inspect.stdout) as { Architecture: string; Id: string }[];
    assert.equal(info!.Architecture, 'arm64');
    assert.equal(info!.Id, arm.configDigest);
    assert.ok(await fs.stat(store('rootfs', arm.chainId.slice(7), 'arch-arm64')), 'the arm64 layer is unpacked');
  });

  // 7. A failing registry and a hanging one --------------------------------------------------------

  it('gives up on a registry answering 500 after retrying', async () => {
    fp.reset();
    fp.setRules([{ path: /\/v2\/hostile\/down\/manifests\//, fault: { kind: 'status', status: 500, body: 'boom' } }]);
    const r = await pull(`${fp.host}/hostile/down:1`);
    fails(r, new RegExp(`registry ${fp.host.replace(/\./g, '\\.')} answered HTTP 500.*try again later`), '500');
    assert.equal(fp.count('GET', /\/v2\/hostile\/down\/manifests\//), 3, 'one request and two retries');
    fp.setRules([]);
    await assertNothingKept('hostile/down');
  });

  it('times out on a registry that never answers', async () => {
    fp.reset();
    fp.setRules([{ path: /\/v2\/hostile\/hang\/manifests\//, fault: { kind: 'hang' } }]);
    const started = Date.now();
    const r = await pull(`${fp.host}/hostile/hang:1`);
    const took = Date.now() - started;
    fails(r, new RegExp(`registry ${fp.host.replace(/\./g, '\\.')} failed: no answer from ${fp.host.replace(/\./g, '\\.')} within ${TIMEOUT_MS} ms`), 'hang');
    const attempts = fp.count('GET', /\/v2\/hostile\/hang\/manifests\//);
    assert.equal(attempts, 3, 'one request and two retries, each timed out');
    assert.ok(took < attempts * TIMEOUT_MS + 5000, `gave up after ${took} ms`);
    fp.setRules([]);
    await assertNothingKept('hostile/hang');
  });

  it('times out on a blob request that never answers', async () => {
    const img = await uploadImage(reg.url, 'hostile/stall', image({ layers: [await rawTar([{ name: 'noise', data: randomBytes(512 * 1024) }])] }), '1');
    const layer = layerDigests(img)[0]!;
    fp.setRules([{ path: new RegExp(`/blobs/${layer}$`), method: 'GET', fault: { kind: 'hang' } }]);
    fails(await pull(`${fp.host}/hostile/stall:1`), new RegExp(`blob ${layer}.*no answer from .* within ${TIMEOUT_MS} ms`), 'blob hang');
    fp.setRules([]);
    await assertNothingKept('hostile/stall');
  });

  // 8. Redirects never carry credentials to another host ----------------------------------------

  it('follows blob redirects to another host without the Authorization header', async () => {
    const other = new TestRoot();
    try {
      fpAuth.reset();
      fpAuth.setRules([{ path: /\/blobs\/sha256:/, method: 'GET', fault: { kind: 'redirect' } }]);
      ok(await pull(`${fpAuth.host}/library/busybox:latest`, [], {}, other), 'pull through redirects');
      assert.ok(fpAuth.redirected.length >= busyboxLayers.length + 1, `layers and config were redirected: ${fpAuth.redirected.length}`);
      assert.deepEqual(fpAuth.redirected.map((r) => r.authorization), fpAuth.redirected.map(() => undefined), 'the other host got no Authorization');
      assert.ok(fpAuth.requests.some((r) => r.authorization && /\/blobs\//.test(r.path)), 'the registry itself got the credentials');
      assert.ok((await listed(other)).includes(`${fpAuth.host}/library/busybox:latest`));
    } finally {
      fpAuth.setRules([]);
      await other.dispose();
    }
  });

  // 9. Plain HTTP only for loopback or --insecure-registry -----------------------------------------

  it('never speaks plain HTTP to a non-loopback registry name unless --insecure-registry names it', async () => {
    // No network: `.invalid` never resolves, with HTTPS (the default) or HTTP (when allowed).
    fails(await pull('registry.invalid:5000/x:1'), /registry registry\.invalid:5000 failed: cannot resolve registry\.invalid/, 'default');
    fails(await pull('registry.invalid:5000/x:1', ['--insecure-registry', 'registry.invalid:5000']), /registry registry\.invalid:5000 failed: cannot resolve registry\.invalid/, 'insecure');

    // A name that is not loopback by its spelling but resolves to 127.0.0.1 (this machine's own
    // name, usually): the fault proxy speaks plain HTTP on it.
    const name = await loopbackName();
    if (name === undefined) return;
    const port = fp.host.split(':')[1];
    fp.reset();
    const https = await pull(`${name}:${port}/library/busybox:latest`);
    fails(https, /registry .* failed/, 'HTTPS to a plain-HTTP registry');
    assert.equal(fp.requests.length, 0, 'no plain HTTP request was made');
    ok(await pull(`${name}:${port}/library/busybox:latest`, ['--insecure-registry', `${name}:${port}`]), 'with --insecure-registry');
    assert.ok(fp.requests.length > 0, 'plain HTTP once named insecure');

    // An HTTPS registry that redirects to plain HTTP elsewhere is refused before connecting there.
    const tls = await startTlsRedirector(name, 'http://registry.invalid:5000/v2/x/manifests/1');
    try {
      const r = await pull(`${name}:${tls.port}/x:1`, [], { NODE_EXTRA_CA_CERTS: tls.cert });
      fails(r, /refusing http:\/\/registry\.invalid:5000 for registry .*: plain HTTP is only used for loopback registries or ones named with --insecure-registry/, 'downgrade');
      assert.ok(tls.requests.some((p) => /manifests/.test(p)), 'the HTTPS registry was asked');
    } finally {
      await tls.close();
    }
  });

  // 10. Concurrent pulls of one image download each layer once ------------------------------------

  it('downloads each layer once when two pulls of the same image run at once', async () => {
    const img = await uploadImage(reg.url, 'shared/img', image({
      layers: await Promise.all([1, 2, 3].map((i) => rawTar([{ name: `noise-${i}`, data: randomBytes(768 * 1024) }]))),
    }), '1');
    fp.reset();
    const [a, b] = await Promise.all([pull(`${fp.host}/shared/img:1`), pull(`${fp.host}/shared/img:1`)]);
    ok(a, 'first concurrent pull');
    ok(b, 'second concurrent pull');
    for (const d of layerDigests(img)) assert.equal(fp.count('GET', `/v2/shared/img/blobs/${d}`), 1, `layer ${d} downloaded once`);
    assert.ok((await listed()).includes(`${fp.host}/shared/img:1`));
  });

  // 11. zstd and uncompressed layers ---------------------------------------------------------------

  it('pulls zstd-compressed and uncompressed layers', async () => {
    const zTar = await rawTar([{ name: 'etc/', type: 'directory' }, { name: 'etc/hello-zstd', data: 'from a zstd layer\n' }]);
    const pTar = await rawTar([{ name: 'hello-plain', data: 'from an uncompressed layer\n' }]);
    const img = await uploadImage(reg.url, 'formats/mixed', image({
      layers: [
        { blob: zstd(zTar), diffId: sha256Digest(zTar), mediaType: `${MEDIA.ociLayer}+zstd` },
        { blob: pTar, diffId: sha256Digest(pTar), mediaType: MEDIA.ociLayer },
      ],
    }), '1');
    ok(await pull(`${fp.host}/formats/mixed:1`), 'zstd + uncompressed');
    const rootfs = store('rootfs', img.chainId.slice(7));
    assert.equal(await fs.readFile(path.join(rootfs, 'etc', 'hello-zstd'), 'utf8'), 'from a zstd layer\n');
    assert.equal(await fs.readFile(path.join(rootfs, 'hello-plain'), 'utf8'), 'from an uncompressed layer\n');

    // A corrupt zstd stream (valid digest, bad content) is an error naming the layer, not a short tar.
    const bad = zstd(zTar);
    const at = bad.length - 6;
    bad[at] = bad[at]! ^ 0xff;
    await uploadImage(reg.url, 'formats/badzstd', image({ layers: [{ blob: bad, diffId: sha256Digest(zTar), mediaType: `${MEDIA.ociLayer}+zstd` }] }), '1');
    fails(await pull(`${fp.host}/formats/badzstd:1`), /layer sha256:[0-9a-f]{12}.*zstd/, 'corrupt zstd');
    await assertNothingKept('formats/badzstd');
  });

  // The store after all of that --------------------------------------------------------------------

  it('leaves a consistent store: only the good images listed, nothing half-done, a good pull works', async () => {
    const images = await listed();
    assert.deepEqual(images.filter((i) => /hostile\/(?!multi|corrupt)|badzstd/.test(i)), [], `no hostile image listed: ${images.join(', ')}`);
    for (const want of ['library/busybox:latest', 'hostile/multi:1', 'shared/img:1', 'formats/mixed:1']) {
      assert.ok(images.includes(`${fp.host}/${want}`), `${want} listed`);
    }
    assert.deepEqual(await ls(store('tmp')), [], 'no staging left');
    assert.deepEqual(await ls(store('downloads', 'sha256')), keptDownloads, 'no downloads left but verified ones');
    await canary.assertUntouched();
    assert.deepEqual(await specialFiles(root.dir, ''), [], 'the devices image\'s nodes went with its rmi');
    ok(await nb(['rmi', `${fp.host}/library/busybox:latest`]), 'rmi busybox');
    ok(await pull(`${fp.host}/library/busybox:latest`), 'a good pull after everything');
    assert.ok((await fs.stat(store('rootfs'))).isDirectory());
  });
});

// ---- helpers -----------------------------------------------------------------------------------

/** Device nodes, fifos and sockets under `dir`, except inside `allowed`. */
async function specialFiles(dir: string, allowed: string): Promise<string[]> {
  const out: string[] = [];
  const walk = async (d: string): Promise<void> => {
    if (d === allowed) return;
    for (const name of await fs.readdir(d)) {
      const p = path.join(d, name);
      const st: Stats = await fs.lstat(p);
      if (st.isDirectory()) await walk(p);
      else if (st.isCharacterDevice() || st.isBlockDevice() || st.isFIFO()) out.push(p);
    }
  };
  await walk(dir);
  return out;
}

/** A host name that resolves to 127.0.0.1 but is not loopback by its spelling, if this machine has one. */
async function loopbackName(): Promise<string | undefined> {
  for (const name of [hostname(), 'vm']) {
    if (!/^[a-z0-9-]+$/.test(name) || name === 'localhost') continue;
    const addr = await lookup(name, { family: 4 }).catch(() => undefined);
    if (addr?.address.startsWith('127.')) return name;
  }
  return undefined;
}

/** An HTTPS server for `name` (self-signed) that answers /v2/ and redirects everything else to `location`. */
async function startTlsRedirector(name: string, location: string): Promise<{ port: number; cert: string; requests: string[]; close: () => Promise<void> }> {
  const key = path.join(scratch, 'tls.key');
  const cert = path.join(scratch, 'tls.crt');
  const r = spawnSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', key, '-out', cert, '-days', '1', '-subj', `/CN=${name}`, '-addext', `subjectAltName=DNS:${name}`], { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`openssl: ${r.stderr}`);
  const requests: string[] = [];
  const server: HttpsServer = createHttpsServer({ key: await fs.readFile(key), cert: await fs.readFile(cert) }, (req, res) => {
    requests.push(req.url ?? '');
    if (req.url === '/v2/') res.writeHead(200, { 'content-type': 'application/json' }).end('{}');
    else res.writeHead(307, { location }).end();
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return { port, cert, requests, close: () => new Promise((resolve) => server.close(() => resolve())) };
}

