import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, promises as fs, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { NESTBOX, runCommand, TestRoot } from '../helpers/cli.js';
import { rawTar, writeOciArchive } from '../image/helpers.js';

// `save` writes archives that nestbox, podman and skopeo read back as the same images.
const run = promisify(execFile);
const root = new TestRoot();
const work = mkdtempSync(path.join(tmpdir(), 'nestbox-save-test-'));
let busyboxId = '';
let appId = '';
let n = 0;

before(async () => {
  const layer = await rawTar([{ name: 'app/hello.txt', data: 'hello from the app layer\n' }]);
  const { file } = await writeOciArchive(work, 'app.tar', { layers: [layer], name: 'example.com/team/app:2.0', config: { Cmd: ['cat', '/app/hello.txt'], Labels: { role: 'test' } } });
  const loaded = await root.nb(['load', '-i', file]);
  assert.equal(loaded.code, 0, loaded.stderr);
  assert.equal((await root.nb(['tag', 'busybox', 'myorg/tool:1'])).code, 0);
  busyboxId = await idOf(root, 'busybox');
  appId = await idOf(root, 'example.com/team/app:2.0');
});

after(async () => {
  await root.dispose();
  rmSync(work, { recursive: true, force: true });
});

async function idOf(r: TestRoot, ref: string): Promise<string> {
  const res = await r.nb(['image', 'inspect', ref]);
  assert.equal(res.code, 0, res.stderr);
  return (JSON.parse(res.stdout) as { Id: string }[])[0]!.Id;
}

async function tarMember(file: string, member: string): Promise<Buffer> {
  return (await run('tar', ['-xOf', file, member], { encoding: 'buffer', maxBuffer: 64 << 20 })).stdout;
}

/** A fresh nestbox root that loads `file`; its image IDs by name. */
async function loadElsewhere(file: string): Promise<Map<string, string>> {
  const other = new TestRoot();
  try {
    const r = await other.nb(['load', '-i', file]);
    assert.equal(r.code, 0, r.stderr);
    const rows = (await other.nb(['images', '--format', 'json', '--no-trunc'])).stdout.trim().split('\n').map((l) => JSON.parse(l) as { Repository: string; Tag: string; ID: string });
    return new Map(rows.map((row) => [`${row.Repository}:${row.Tag}`, row.ID]));
  } finally {
    await other.dispose();
  }
}

test('docker-archive and oci-archive round-trip through load with the same image IDs and names', async () => {
  for (const format of ['docker-archive', 'oci-archive']) {
    const file = path.join(work, `both-${format}.tar`);
    const r = await root.nb(['save', '-o', file, '--format', format, 'busybox', 'myorg/tool:1', 'example.com/team/app:2.0']);
    assert.equal(r.code, 0, r.stderr);
    assert.equal(r.stdout, '');
    const ids = await loadElsewhere(file);
    assert.deepEqual(Object.fromEntries(ids), { 'busybox:latest': busyboxId, 'myorg/tool:1': busyboxId, 'example.com/team/app:2.0': appId }, format);
  }
});

test('docker-archive: manifest.json, repositories and an OCI layout, with uncompressed layers named by diff ID', async () => {
  const file = path.join(work, 'layout.tar');
  assert.equal((await root.nb(['save', '-o', file, 'busybox'])).code, 0);
  const manifest = JSON.parse((await tarMember(file, 'manifest.json')).toString()) as { Config: string; RepoTags: string[]; Layers: string[] }[];
  assert.equal(manifest.length, 1);
  assert.deepEqual(manifest[0]!.RepoTags, ['docker.io/library/busybox:latest']);
  assert.equal(manifest[0]!.Config, `blobs/sha256/${busyboxId.slice(7)}`);
  const inspect = JSON.parse((await root.nb(['image', 'inspect', 'busybox'])).stdout)[0] as { RootFS: { Layers: string[] } };
  assert.deepEqual(manifest[0]!.Layers, inspect.RootFS.Layers.map((d) => `blobs/sha256/${d.slice(7)}`));
  for (const [i, layer] of manifest[0]!.Layers.entries()) {
    const bytes = await tarMember(file, layer);
    assert.equal(`sha256:${createHash('sha256').update(bytes).digest('hex')}`, inspect.RootFS.Layers[i], 'the layer is stored uncompressed, as its diff ID');
  }
  assert.deepEqual(Object.keys(JSON.parse((await tarMember(file, 'repositories')).toString())), ['docker.io/library/busybox']);
  assert.deepEqual(JSON.parse((await tarMember(file, 'oci-layout')).toString()), { imageLayoutVersion: '1.0.0' });
  const index = JSON.parse((await tarMember(file, 'index.json')).toString()) as { manifests: { annotations: Record<string, string> }[] };
  assert.deepEqual(index.manifests[0]!.annotations, { 'io.containerd.image.name': 'docker.io/library/busybox:latest', 'org.opencontainers.image.ref.name': 'docker.io/library/busybox:latest' });
});

test('a repository name saves all its tags; an ID saves the image without names', async () => {
  const byRepo = path.join(work, 'repo.tar');
  assert.equal((await root.nb(['save', '-o', byRepo, '--format', 'oci-archive', 'myorg/tool'])).code, 0);
  assert.deepEqual(Object.fromEntries(await loadElsewhere(byRepo)), { 'myorg/tool:1': busyboxId });
  const byId = path.join(work, 'by-id.tar');
  assert.equal((await root.nb(['save', '-o', byId, appId.slice(7, 19)])).code, 0);
  assert.deepEqual(Object.fromEntries(await loadElsewhere(byId)), { '<none>:<none>': appId });
});

test('streams to stdout when it is not a terminal (`-o -` too); refuses a terminal', async () => {
  for (const args of [['save', 'busybox'], ['save', '-o', '-', 'busybox']]) {
    const file = path.join(work, `stdout-${n++}.tar`);
    const quoted = [NESTBOX, '--root', root.dir, ...args].map((a) => `'${a}'`).join(' ');
    const r = await runCommand('sh', ['-c', `${quoted} > '${file}'`]);
    assert.equal(r.code, 0, r.stderr);
    assert.equal((await loadElsewhere(file)).get('busybox:latest'), busyboxId);
  }
  // a reader that goes away: a clear message and 125, not a stack trace
  const cut = await runCommand('bash', ['-c', `set -o pipefail; '${NESTBOX}' --root '${root.dir}' save busybox | head -c 100 > /dev/null`]);
  assert.equal(cut.code, 125);
  assert.equal(cut.stderr, 'nestbox: save: write `stdout`: broken pipe (the reader went away)\n');
  // `script` gives the command a pseudo-terminal as stdout
  const tty = await runCommand('script', ['-qec', `${NESTBOX} --root ${root.dir} save busybox; echo "exit=$?"`, '/dev/null']);
  assert.match(tty.stdout, /cowardly refusing to save to a terminal/);
  assert.match(tty.stdout, /exit=125/);
});

test('a failed save leaves nothing: unknown image, bad format, damaged store', async () => {
  const dir = path.join(work, `failed-${n++}`);
  await fs.mkdir(dir);
  const target = path.join(dir, 'out.tar');
  const cases: [string[], RegExp][] = [
    [['save', '-o', target, 'busybox', 'no-such-image'], /no such image: no-such-image/],
    [['save', '-o', target, '--format', 'tarball', 'busybox'], /invalid --format "tarball"/],
    [['save', '-o', dir, 'busybox'], /is a directory/],
  ];
  for (const [args, message] of cases) {
    const r = await root.nb(args);
    assert.equal(r.code, 125, `${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message);
  }
  // A layer blob gone from the store: the error names it, and no partial archive is left.
  const damaged = new TestRoot();
  try {
    const app = path.join(work, 'app.tar');
    assert.equal((await damaged.nb(['load', '-i', app])).code, 0);
    const layer = JSON.parse(await fs.readFile(path.join(damaged.dir, 'images', 'index.json'), 'utf8')).images[appId].layers[0].digest as string;
    await fs.rm(path.join(damaged.dir, 'images', 'blobs', 'sha256', layer.slice(7)));
    for (const format of ['docker-archive', 'oci-archive']) {
      const r = await damaged.nb(['save', '-o', target, '--format', format, 'example.com/team/app:2.0']);
      assert.equal(r.code, 125);
      assert.match(r.stderr, new RegExp(`layer ${layer} is missing from the image store`));
    }
  } finally {
    await damaged.dispose();
  }
  assert.deepEqual(readdirSync(dir), [], 'no archive and no temp file');
});

test('podman loads both formats (several images in a docker-archive)', async () => {
  const docker = path.join(work, 'podman-docker.tar');
  const oci = path.join(work, 'podman-oci.tar');
  assert.equal((await root.nb(['save', '-o', docker, 'busybox', 'example.com/team/app:2.0'])).code, 0);
  assert.equal((await root.nb(['save', '-o', oci, '--format', 'oci-archive', 'example.com/team/app:2.0'])).code, 0);
  for (const [file, ids] of [[docker, [busyboxId, appId]], [oci, [appId]]] as const) {
    const storage = mkdtempSync(path.join(work, 'podman-'));
    // a private podman store (vfs: no mounts) so the host's podman images stay untouched
    const podman = (...args: string[]) => runCommand('podman', ['--root', path.join(storage, 'root'), '--runroot', path.join(storage, 'run'), '--storage-driver', 'vfs', '--events-backend', 'file', ...args]);
    try {
      const loaded = await podman('load', '-i', file);
      assert.equal(loaded.code, 0, loaded.stderr);
      const listed = await podman('images', '--no-trunc', '--format', '{{.ID}} {{.Repository}}:{{.Tag}}');
      assert.equal(listed.code, 0, listed.stderr);
      for (const id of ids) assert.match(listed.stdout, new RegExp(id.slice(7)), `${path.basename(file)}: podman lists ${id}\n${listed.stdout}`);
      if (file === oci) assert.match(listed.stdout, /example\.com\/team\/app:2\.0/);
    } finally {
      rmSync(storage, { recursive: true, force: true });
    }
  }
});

test('skopeo reads both formats and agrees on the config digest', async () => {
  for (const format of ['docker-archive', 'oci-archive']) {
    const file = path.join(work, `skopeo-${format}.tar`);
    assert.equal((await root.nb(['save', '-o', file, '--format', format, 'example.com/team/app:2.0'])).code, 0);
    const raw = await runCommand('skopeo', ['inspect', '--raw', `${format}:${file}`]);
    assert.equal(raw.code, 0, raw.stderr);
    assert.equal((JSON.parse(raw.stdout) as { config: { digest: string } }).config.digest, appId, format);
    const config = await run('skopeo', ['inspect', '--config', '--raw', `${format}:${file}`], { encoding: 'buffer' });
    assert.equal(`sha256:${createHash('sha256').update(config.stdout).digest('hex')}`, appId, `${format}: the config bytes are the image's`);
  }
});
