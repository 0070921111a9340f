import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { TestRoot } from '../helpers/cli.js';
import { rawTar, writeOciArchive } from '../image/helpers.js';

// tag, image inspect/ls/rm/prune and the images listing flags, through the real CLI.
const root = new TestRoot();
const work = mkdtempSync(path.join(tmpdir(), 'nestbox-image-cli-test-'));
let n = 0;

const APP_CONFIG = {
  Entrypoint: ['/bin/app'],
  Cmd: ['--serve'],
  Env: ['PATH=/bin', 'MODE=test'],
  WorkingDir: '/srv',
  User: 'nobody',
  Labels: { 'org.example.team': 'images' },
  ExposedPorts: { '8080/tcp': {} },
  StopSignal: 'SIGINT',
};

/** Load an image of busybox and a file `/file-N` with `image N` (named, or untagged when `name` is undefined); its ID. */
async function loadImage(name: string | undefined, config = {}): Promise<string> {
  const layer = await rawTar([
    { name: 'bin/', type: 'directory' },
    { name: 'bin/busybox', data: readFileSync('/bin/busybox'), mode: 0o755 },
    { name: `file-${n}`, data: `image ${n}\n` },
  ]);
  const { file, configDigest } = await writeOciArchive(work, `img-${n++}.tar`, { layers: [layer], name, config, created: '2025-06-01T12:00:00Z' });
  const r = await root.nb(['load', '-i', file]);
  assert.equal(r.code, 0, r.stderr);
  return configDigest;
}

async function ok(args: string[], input?: string): Promise<string> {
  const r = await root.nb(args, input === undefined ? {} : { input });
  assert.equal(r.code, 0, `nestbox ${args.join(' ')}: ${r.stderr}`);
  return r.stdout;
}

const listed = async (...extra: string[]) => (await ok(['images', '--format', 'json', '--no-trunc', ...extra])).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as Record<string, string>);
const names = async (...extra: string[]) => (await listed(...extra)).map((r) => `${r.Repository}:${r.Tag}`).sort();

let appId = '';
before(async () => {
  appId = await loadImage('example.com/team/app:1.0', APP_CONFIG);
});

after(async () => {
  await root.dispose();
  rmSync(work, { recursive: true, force: true });
});

test('tag adds a name (the default image counts as present); bad sources and targets exit 125', async () => {
  assert.equal(await ok(['tag', 'busybox', 'myorg/tool:1']), '');
  assert.equal(await ok(['image', 'tag', appId.slice(7, 19), 'localhost:5000/app']), '');
  const busybox = (await listed()).find((r) => r.Repository === 'busybox')!.ID;
  assert.deepEqual((await listed()).filter((r) => r.ID === busybox).map((r) => `${r.Repository}:${r.Tag}`).sort(), ['busybox:latest', 'myorg/tool:1']);
  assert.deepEqual((await listed()).filter((r) => r.ID === appId).map((r) => `${r.Repository}:${r.Tag}`).sort(), ['example.com/team/app:1.0', 'localhost:5000/app:latest']);
  for (const [args, message] of [
    [['tag', 'no-such-image', 'x:1'], /no such image: no-such-image/],
    [['tag', 'busybox', 'Bad:Ref:x'], /invalid reference format/],
    [['tag', 'busybox', `x@sha256:${'a'.repeat(64)}`], /a digest cannot be used as a tag/],
    [['tag', 'busybox'], /missing required argument 'target'/],
  ] as [string[], RegExp][]) {
    const r = await root.nb(args);
    assert.equal(r.code, 125, args.join(' '));
    assert.match(r.stderr, message);
  }
  // `image rm` is `rmi`: the extra names go again
  assert.equal(await ok(['image', 'rm', 'myorg/tool:1', 'localhost:5000/app']), 'Untagged: myorg/tool:1\nUntagged: localhost:5000/app:latest\n');
});

test('image inspect prints docker-shaped JSON; inspect --type image prints the same', async () => {
  const docs = JSON.parse(await ok(['image', 'inspect', 'example.com/team/app:1.0', 'busybox'])) as Record<string, unknown>[];
  assert.equal(docs.length, 2);
  const app = docs[0]!;
  assert.equal(app.Id, appId);
  assert.deepEqual(app.RepoTags, ['example.com/team/app:1.0']);
  assert.deepEqual(app.RepoDigests, []);
  assert.equal(app.Created, '2025-06-01T12:00:00Z');
  assert.equal(app.Architecture, 'amd64');
  assert.equal(app.Os, 'linux');
  assert.equal(typeof app.Size, 'number');
  assert.deepEqual(app.Config, { ...APP_CONFIG });
  const rootfs = app.RootFS as { Type: string; Layers: string[] };
  assert.equal(rootfs.Type, 'layers');
  assert.equal(rootfs.Layers.length, 1);
  assert.match(rootfs.Layers[0]!, /^sha256:[0-9a-f]{64}$/);
  assert.deepEqual((docs[1]!.Config as Record<string, unknown>).Entrypoint, null);
  assert.deepEqual((docs[1]!.Config as Record<string, unknown>).Labels, null);
  assert.deepEqual(JSON.parse(await ok(['inspect', '--type', 'image', 'example.com/team/app:1.0'])), [app]);

  const missing = await root.nb(['image', 'inspect', 'busybox', 'no-such-image']);
  assert.equal(missing.code, 1);
  assert.match(missing.stderr, /Error: No such image: no-such-image/);
  assert.equal((JSON.parse(missing.stdout) as unknown[]).length, 1);
});

test('images --format json carries docker fields; --filter and `image ls` narrow the list', async () => {
  const danglingId = await loadImage(undefined);
  const row = (await listed()).find((r) => r.ID === appId)!;
  assert.deepEqual(Object.keys(row).sort(), ['Containers', 'CreatedAt', 'CreatedSince', 'Digest', 'ID', 'Repository', 'SharedSize', 'Size', 'Tag', 'UniqueSize', 'VirtualSize']);
  assert.equal(row.Containers, '0');
  assert.equal(row.CreatedAt, '2025-06-01 12:00:00 +0000 UTC');
  assert.match(row.CreatedSince!, / ago$/);
  assert.match(row.Digest!, /^sha256:[0-9a-f]{64}$/);
  assert.match(row.Size!, /^[\d.]+[kM]?B$/);
  assert.equal(row.VirtualSize, row.Size);
  const short = JSON.parse((await ok(['images', '--format', 'json'])).split('\n')[0]!) as { ID: string };
  assert.match(short.ID, /^[0-9a-f]{12}$/);

  assert.deepEqual(await names('--filter', 'dangling=true'), ['<none>:<none>']);
  assert.ok(!(await names('--filter', 'dangling=false')).includes('<none>:<none>'));
  assert.deepEqual(await names('--filter', 'reference=example.com/*/app'), ['example.com/team/app:1.0']);
  assert.deepEqual(await names('--filter', 'reference=busy*:lat*'), ['busybox:latest']);
  assert.deepEqual(await names('busybox'), ['busybox:latest']);
  assert.deepEqual((await ok(['image', 'ls', '-q', '--no-trunc', '--filter', 'dangling=true'])).trim(), danglingId);
  assert.match(await ok(['image', 'list']), /^REPOSITORY\s+TAG\s+IMAGE ID\s+CREATED\s+SIZE\n/);
  const bad = await root.nb(['images', '--filter', 'label=x']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /invalid filter "label"/);
  assert.equal(await ok(['rmi', danglingId]), `Deleted: ${danglingId}\n`);
});

test('image prune removes only what no container uses: dangling first, then every image with -a', async () => {
  const unused = await loadImage(undefined);
  const usedDangling = await loadImage(undefined);
  const usedTagged = await loadImage('keep/used:1');
  const unusedTagged = await loadImage('drop/unused:1');
  const c1 = (await ok(['create', '--isolation', 'process', usedDangling, '/bin/busybox', 'true'])).trim();
  const c2 = (await ok(['create', '--isolation', 'process', 'keep/used:1', '/bin/busybox', 'sh', '-c', 'cat /file-*'])).trim();
  assert.equal((await listed()).find((r) => r.ID === usedTagged)!.Containers, '1');

  // Without -f it asks; anything but yes keeps everything.
  const declined = await root.nb(['image', 'prune'], { input: 'n\n' });
  assert.equal(declined.code, 0);
  assert.match(declined.stdout, /WARNING! This will remove all dangling images\.\nAre you sure you want to continue\? \[y\/N\]/);
  assert.match(declined.stderr, /cancelled/);
  assert.ok((await listed()).some((r) => r.ID === unused));

  const dangling = await ok(['image', 'prune'], 'y\n');
  assert.match(dangling, new RegExp(`Deleted Images:\\ndeleted: ${unused}\\n`));
  assert.match(dangling, /Total reclaimed space: [\d.]+[kM]?B\n$/);
  let ids = new Set((await listed()).map((r) => r.ID));
  assert.ok(!ids.has(unused));
  for (const id of [usedDangling, usedTagged, unusedTagged, appId]) assert.ok(ids.has(id), `kept ${id}`);

  const all = await ok(['image', 'prune', '-a', '-f']);
  assert.match(all, /untagged: drop\/unused:1\n/);
  assert.match(all, /untagged: example\.com\/team\/app:1\.0\n/);
  assert.match(all, new RegExp(`deleted: ${unusedTagged}\\n`));
  ids = new Set((await listed()).map((r) => r.ID));
  assert.deepEqual([...ids].sort(), [usedDangling, usedTagged].sort(), 'only the images containers use are left');

  // The containers still start from their images after the prune.
  const started = await root.nb(['start', '-a', c2]);
  assert.equal(started.code, 0, started.stderr);
  assert.match(started.stdout, /^image \d+\n$/, 'start -a shows the output of a process that ends at once');
  assert.match(await ok(['logs', c2]), /^image \d+\n$/);

  await ok(['rm', '-f', c1, c2]);
  const rest = await ok(['image', 'prune', '-a', '-f']);
  assert.match(rest, new RegExp(`deleted: ${usedDangling}\\n`));
  assert.match(rest, /Deleted rootfs caches:\nsha256:[0-9a-f]{64}\nsha256:[0-9a-f]{64}\n/);
  assert.deepEqual(await listed(), []);
  assert.equal(await ok(['image', 'prune', '-f']), 'Total reclaimed space: 0B\n');
});
