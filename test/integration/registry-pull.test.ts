import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { TestRoot, type CliResult } from '../helpers/cli.js';
import {
  BUSYBOX_OCI,
  ociArchiveManifestDigest,
  pushImage,
  skopeoInspect,
  skopeoManifestDigest,
  startRegistry,
  startTokenServer,
  type Registry,
} from '../helpers/registry.js';

// Pull, push and login against a real registry (Debian's docker-registry), with interop both
// ways through skopeo: what skopeo pushed, nestbox pulls and runs; what nestbox pushed, skopeo
// reads back with the same digest.
const creds = { user: 'alice', password: 's3cret' };
const home = mkdtempSync(path.join(tmpdir(), 'nestbox-auth-'));
const env = { NESTBOX_AUTH_FILE: path.join(home, 'nestbox', 'auth.json'), DOCKER_CONFIG: path.join(home, 'docker') };
const roots: TestRoot[] = [];
const stops: (() => Promise<void>)[] = [];

function root(): TestRoot {
  const r = new TestRoot();
  roots.push(r);
  return r;
}
const nb = (r: TestRoot, args: string[], input?: string) => r.nb(args, { env, ...(input !== undefined ? { input } : {}), timeoutMs: 120_000 });
function ok(r: CliResult, what: string): CliResult {
  assert.equal(r.code, 0, `${what}: exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`);
  return r;
}

/** The image ID `images --format json` lists for a repository. */
async function imageId(r: TestRoot, repo: string): Promise<string | undefined> {
  const rows = ok(await nb(r, ['images', '--no-trunc', '--format', 'json']), 'images').stdout.trim().split('\n').filter(Boolean);
  return rows.map((l) => JSON.parse(l) as { ID: string; Repository: string }).find((i) => i.Repository === repo)?.ID;
}

after(async () => {
  for (const r of roots) await r.dispose();
  for (const s of stops.reverse()) await s();
  rmSync(home, { recursive: true, force: true });
});

describe('registry without auth', () => {
  let reg: Registry;
  let busyboxDigest: string;
  before(async () => {
    reg = await startRegistry();
    stops.push(() => reg.stop());
    await pushImage(reg.host, BUSYBOX_OCI, 'lib/busybox:1');
    await pushImage(reg.host, BUSYBOX_OCI, 'lib/copy:2');
    busyboxDigest = await ociArchiveManifestDigest(BUSYBOX_OCI);
  });

  test('pull what skopeo pushed, run it, pull again is up to date, pull by digest', async () => {
    const r = root();
    const first = ok(await nb(r, ['pull', `${reg.host}/lib/busybox:1`]), 'pull');
    assert.match(first.stdout, /1: Pulling from 127\.0\.0\.1:\d+\/lib\/busybox/);
    assert.match(first.stdout, /Pull complete/);
    assert.match(first.stdout, new RegExp(`Digest: ${busyboxDigest}`));
    assert.match(first.stdout, /Status: Downloaded newer image/);
    assert.equal(first.stdout.trim().split('\n').pop(), `${reg.host}/lib/busybox:1`);
    assert.equal(await skopeoManifestDigest(`${reg.host}/lib/busybox:1`), busyboxDigest);

    const list = ok(await nb(r, ['images', '--digests']), 'images');
    assert.match(list.stdout, new RegExp(`${reg.host.replace(/\./g, '\\.')}/lib/busybox\\s+1\\s+${busyboxDigest}`));

    const run = ok(await nb(r, ['run', '--rm', '--isolation', 'process', `${reg.host}/lib/busybox:1`, 'echo', 'pulled and ran']), 'run');
    assert.equal(run.stdout, 'pulled and ran\n');

    const again = ok(await nb(r, ['pull', `${reg.host}/lib/busybox:1`]), 'pull again');
    assert.match(again.stdout, /Already exists/);
    assert.match(again.stdout, /Status: Image is up to date/);

    // Same layers under another name: nothing downloaded, the blob stored once.
    const copy = ok(await nb(r, ['pull', '-q', `${reg.host}/lib/copy:2`]), 'pull copy');
    assert.equal(copy.stdout, `${reg.host}/lib/copy:2\n`);
    const blobs = readdirSync(path.join(r.dir, 'images', 'blobs', 'sha256'));
    assert.equal(new Set(blobs).size, blobs.length);
    assert.deepEqual(readdirSync(path.join(r.dir, 'images', 'downloads', 'sha256')), [], 'no download left over');

    const byDigest = ok(await nb(r, ['pull', `${reg.host}/lib/busybox@${busyboxDigest}`]), 'pull by digest');
    assert.match(byDigest.stdout, new RegExp(`@${busyboxDigest}`));
    const tagged = await imageId(r, `${reg.host}/lib/busybox`);
    ok(await nb(r, ['run', '--rm', '--isolation', 'process', `${reg.host}/lib/busybox@${busyboxDigest}`, 'true']), 'run by digest');
    assert.ok(tagged);
  });

  test('run and create pull a missing image; --pull never does not', async () => {
    const r = root();
    const never = await nb(r, ['create', '--pull', 'never', '--isolation', 'process', `${reg.host}/lib/copy:2`]);
    assert.equal(never.code, 125);
    assert.match(never.stderr, /no such image/);
    const run = ok(await nb(r, ['run', '--rm', '--isolation', 'process', `${reg.host}/lib/copy:2`, 'echo', 'implicit']), 'run');
    assert.equal(run.stdout, 'implicit\n', 'progress goes to stderr, not the container output');
    assert.match(run.stderr, /Unable to find image '127\.0\.0\.1:\d+\/lib\/copy:2' locally/);
    const missing = await nb(r, ['pull', `${reg.host}/lib/nope:1`]);
    assert.equal(missing.code, 125);
    assert.match(missing.stderr, /not found on registry/);
  });

  test('push: skopeo reads back the same digest; a second push skips existing layers', async () => {
    const r = root();
    ok(await nb(r, ['tag', 'busybox', `${reg.host}/mine/bb:v1`]), 'tag');
    const push = ok(await nb(r, ['push', `${reg.host}/mine/bb:v1`]), 'push');
    assert.match(push.stdout, new RegExp(`The push refers to repository \\[${reg.host.replace(/\./g, '\\.')}/mine/bb\\]`));
    const digest = /v1: digest: (sha256:[a-f0-9]{64}) size: \d+/.exec(push.stdout)?.[1];
    assert.ok(digest, push.stdout);
    assert.equal(await skopeoManifestDigest(`${reg.host}/mine/bb:v1`), digest);
    const info = await skopeoInspect(`${reg.host}/mine/bb:v1`);
    assert.equal(info.Architecture, 'amd64');
    const again = ok(await nb(r, ['push', `${reg.host}/mine/bb:v1`]), 'push again');
    assert.match(again.stdout, /Layer already exists/);
    // And nestbox pulls it back into a fresh store with the same image ID.
    const other = root();
    ok(await nb(other, ['pull', `${reg.host}/mine/bb:v1`]), 'pull pushed');
    assert.equal(await imageId(other, `${reg.host}/mine/bb`), await imageId(r, 'busybox'));
    const unknown = await nb(r, ['push', `${reg.host}/mine/none:v1`]);
    assert.equal(unknown.code, 125);
    assert.match(unknown.stderr, /tag an image with this name first/);
  });
});

describe('registry with htpasswd auth', () => {
  let reg: Registry;
  before(async () => {
    reg = await startRegistry({ auth: { htpasswd: creds } });
    stops.push(() => reg.stop());
    await pushImage(reg.host, BUSYBOX_OCI, 'team/bb:1', creds);
  });

  test('anonymous pull is refused with a hint; wrong login stores nothing; login, pull, logout', async () => {
    const r = root();
    const anon = await nb(r, ['pull', `${reg.host}/team/bb:1`]);
    assert.equal(anon.code, 125);
    assert.match(anon.stderr, new RegExp(`nestbox login ${reg.host.replace(/\./g, '\\.')}`));

    const wrong = await nb(r, ['login', reg.host, '-u', creds.user, '--password-stdin'], 'nope\n');
    assert.equal(wrong.code, 125);
    assert.match(wrong.stderr, /refused/);
    assert.throws(() => statSync(env.NESTBOX_AUTH_FILE), 'nothing stored after a failed login');

    const login = ok(await nb(r, ['login', reg.host, '-u', creds.user, '--password-stdin'], `${creds.password}\n`), 'login');
    assert.match(login.stdout, /Login Succeeded/);
    assert.equal(statSync(env.NESTBOX_AUTH_FILE).mode & 0o777, 0o600);
    assert.equal(statSync(path.dirname(env.NESTBOX_AUTH_FILE)).mode & 0o777, 0o700);
    ok(await nb(r, ['pull', `${reg.host}/team/bb:1`]), 'pull after login');
    ok(await nb(r, ['tag', 'busybox', `${reg.host}/team/pushed:1`]), 'tag');
    ok(await nb(r, ['push', `${reg.host}/team/pushed:1`]), 'push with login');
    assert.equal(await skopeoManifestDigest(`${reg.host}/team/pushed:1`, creds), await ociArchiveManifestDigest(BUSYBOX_OCI));

    const logout = ok(await nb(r, ['logout', reg.host]), 'logout');
    assert.match(logout.stdout, /Removing login credentials/);
    assert.doesNotMatch(readFileSync(env.NESTBOX_AUTH_FILE, 'utf8'), new RegExp(reg.host.replace(/\./g, '\\.')));
  });

  test("docker's config.json credentials are used when nestbox has none", async () => {
    const r = root();
    mkdirSync(env.DOCKER_CONFIG, { recursive: true });
    writeFileSync(path.join(env.DOCKER_CONFIG, 'config.json'), JSON.stringify({ auths: { [reg.host]: { auth: Buffer.from(`${creds.user}:${creds.password}`).toString('base64') } } }));
    try {
      ok(await nb(r, ['pull', `${reg.host}/team/bb:1`]), 'pull with docker config');
    } finally {
      rmSync(env.DOCKER_CONFIG, { recursive: true, force: true });
    }
  });
});

describe('registry with token auth', () => {
  let reg: Registry;
  let ts: Awaited<ReturnType<typeof startTokenServer>>;
  before(async () => {
    ts = await startTokenServer({ users: { [creds.user]: creds.password }, anonymousPull: ['public/bb'] });
    stops.push(async () => ts.close());
    reg = await startRegistry({ auth: { token: ts } });
    stops.push(() => reg.stop());
    await pushImage(reg.host, BUSYBOX_OCI, 'public/bb:1', creds);
    await pushImage(reg.host, BUSYBOX_OCI, 'private/bb:1', creds);
  });

  test('anonymous token for a public repo; a private one needs login; push gets a push scope', async () => {
    const r = root();
    ok(await nb(r, ['pull', `${reg.host}/public/bb:1`]), 'anonymous pull');
    assert.ok(ts.requests.some((q) => !q.user && q.scopes.includes('repository:public/bb:pull') && q.status === 200));
    const denied = await nb(r, ['pull', `${reg.host}/private/bb:1`]);
    assert.equal(denied.code, 125);
    assert.match(denied.stderr, /login|credentials|denied/i);

    ok(await nb(r, ['login', reg.host, '-u', creds.user, '-p', creds.password]), 'login');
    ok(await nb(r, ['pull', `${reg.host}/private/bb:1`]), 'pull after login');
    ok(await nb(r, ['tag', 'busybox', `${reg.host}/private/new:1`]), 'tag');
    ok(await nb(r, ['push', `${reg.host}/private/new:1`]), 'push');
    assert.ok(ts.requests.some((q) => q.user === creds.user && q.scopes.some((s) => s === 'repository:private/new:pull,push')), JSON.stringify(ts.requests.map((q) => q.scopes)));
    ok(await nb(r, ['logout', reg.host]), 'logout');
  });
});
