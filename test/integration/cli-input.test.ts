import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { TestRoot, REPO } from '../helpers/cli.js';
import { rawTar } from '../image/helpers.js';
import { makeOciImage, ociArchiveBytes } from '../../src/image/oci-write.js';

// Bad input gets a clear message and exit 125, and leaves nothing behind; image verbs interop.
const root = new TestRoot();
after(() => root.dispose());

const containers = () => (existsSync(path.join(root.dir, 'containers')) ? readdirSync(path.join(root.dir, 'containers')) : []);

test('unknown image, flag, option values and missing arguments exit 125 and create nothing', async () => {
  const cases: Array<[string[], RegExp]> = [
    [['run', '--rm', '--pull', 'never', 'no-such-image', 'true'], /no such image: no-such-image/],
    // no internet here: the implicit pull says which registry it could not reach
    [['run', '--rm', 'no-such-image', 'true'], /Unable to find image 'no-such-image' locally\n.*cannot resolve registry-1\.docker\.io/],
    [['run', '--bogus', 'busybox'], /unknown option '--bogus'/],
    [['run'], /missing required argument 'image'/],
    [['run', '--memory', 'lots', 'busybox', 'true'], /invalid --memory "lots"/],
    [['run', '--memory', '1m', 'busybox', 'true'], /at least 64 MiB/],
    [['run', '--cpus', '0', 'busybox', 'true'], /invalid --cpus "0"/],
    [['run', '--isolation', 'hyperv', 'busybox', 'true'], /invalid --isolation "hyperv"/],
    [['run', '--env-file', '/nonexistent/env', 'busybox', 'true'], /open env file `\/nonexistent\/env`: no such file/],
    [['run', '--name', 'bad/name', 'busybox', 'true'], /invalid container name "bad\/name"/],
    [['run', '-u', 'ghost', '--isolation', 'process', 'busybox', 'true'], /unable to find user ghost/],
    [['frobnicate'], /unknown command 'frobnicate'/],
    [['load', '-i', '/nonexistent.tar'], /nonexistent\.tar/],
  ];
  for (const [args, message] of cases) {
    const r = await root.nb(args);
    assert.equal(r.code, 125, `nestbox ${args.join(' ')}: ${r.stderr}`);
    assert.match(r.stderr, message, `nestbox ${args.join(' ')}`);
    assert.equal(r.stdout, '');
  }
  assert.deepEqual(containers(), [], 'no container directory was left');
  assert.equal((await root.nb(['ps', '-aq'])).stdout, '');
});

test('a user that does not exist in the image fails the VM start with 125 and a clear message', async () => {
  const r = await root.nb(['run', '--rm', '-u', 'ghost', 'busybox', 'true']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /unable to find user ghost/);
  assert.deepEqual(containers(), []);
});

test('a VMM that dies at start-up gives 125 with the reason, and --rm leaves nothing', async () => {
  const r = await root.nb(['run', '--rm', 'busybox', 'true'], { env: { NESTBOX_QEMU: '/bin/false' } });
  assert.equal(r.code, 125);
  assert.match(r.stderr, /the sandbox monitor exited during start-up/);
  assert.deepEqual(containers(), []);
});

test('an image with no CMD and no command given: 125 naming the image, nothing created', async () => {
  const layer = await rawTar([{ name: 'etc/', type: 'directory' }]);
  const bare = makeOciImage({ layers: [layer], name: 'bare:1', config: {} });
  const tar = path.join(root.dir, 'bare.tar');
  writeFileSync(tar, await ociArchiveBytes(bare));
  assert.equal((await root.nb(['load', '-i', tar])).code, 0);
  const r = await root.nb(['run', '--rm', 'bare:1']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /no command specified: image bare:1 has no CMD or ENTRYPOINT/);
  assert.deepEqual(containers(), []);
  await root.nb(['rmi', 'bare:1']);
});

test("an image's bare Env names never read the host's environment; -e NAME does, as in Docker", async () => {
  const layer = await rawTar([{ name: 'etc/', type: 'directory' }]);
  const leaky = makeOciImage({ layers: [layer], name: 'leaky:1', config: { Env: ['LEAKME', 'PATH=/bin'], Cmd: ['sh'] } });
  const tar = path.join(root.dir, 'leaky.tar');
  writeFileSync(tar, await ociArchiveBytes(leaky));
  assert.equal((await root.nb(['load', '-i', tar])).code, 0);
  // run the image's config on busybox's files: tag busybox's rootfs is not needed, the env is what matters
  const r = await root.nb(['create', '--isolation', 'process', 'leaky:1'], { env: { LEAKME: 'host-secret' } });
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse((await root.nb(['inspect', r.stdout.trim()])).stdout)[0];
  assert.ok(!doc.Config.Env.some((e: string) => e.includes('host-secret')), JSON.stringify(doc.Config.Env));
  await root.nb(['rm', r.stdout.trim()]);
  await root.nb(['rmi', 'leaky:1']);
  const fromHost = await root.nb(['run', '--rm', '--isolation', 'process', '-e', 'FROMHOST', '-e', 'UNSET_X', 'busybox', 'sh', '-c', 'echo $FROMHOST ${UNSET_X-unset}'], { env: { FROMHOST: 'yes' } });
  assert.equal(fromHost.stdout, 'yes unset\n');
});

test('corrupt and malicious archives are refused by load with the offending entry named', async () => {
  const corrupt = path.join(root.dir, 'corrupt.tar');
  writeFileSync(corrupt, Buffer.concat([Buffer.from('this is not a tar archive'), Buffer.alloc(2000, 7)]));
  const r1 = await root.nb(['load', '-i', corrupt]);
  assert.equal(r1.code, 125);
  assert.match(r1.stderr, /corrupt\.tar/);

  const evilLayer = await rawTar([{ name: '../../escape.txt', data: 'pwned' }]);
  const evil = makeOciImage({ layers: [evilLayer], name: 'evil:latest', config: { Cmd: ['sh'] } });
  const evilTar = path.join(root.dir, 'evil.tar');
  writeFileSync(evilTar, await ociArchiveBytes(evil));
  const r2 = await root.nb(['load', '-i', evilTar]);
  assert.equal(r2.code, 125);
  assert.match(r2.stderr, /\.\.\/\.\.\/escape\.txt/);
  assert.equal(existsSync(path.join(root.dir, '..', 'escape.txt')), false);
  assert.doesNotMatch((await root.nb(['images'])).stdout, /evil/);
});

test('load a docker-archive written by skopeo, run it, list and remove it', async () => {
  assert.equal((await root.nb(['inspect', '--type', 'image', 'busybox'])).code, 0, 'the embedded image loads on first use');
  const archive = path.join(root.dir, 'bb-docker.tar');
  execFileSync('skopeo', ['copy', '--quiet', `oci-archive:${path.join(REPO, 'build/images/busybox.oci.tar')}`, `docker-archive:${archive}:example.com/tools/bb:1.0`]);
  const loaded = await root.nb(['load', '-i', archive]);
  assert.equal(loaded.code, 0, loaded.stderr);
  assert.equal(loaded.stdout, 'Loaded image: example.com/tools/bb:1.0\n');
  assert.match((await root.nb(['images'])).stdout, /example\.com\/tools\/bb\s+1\.0\s+[0-9a-f]{12}/);
  const run = await root.nb(['run', '--rm', '--isolation', 'process', 'example.com/tools/bb:1.0', 'echo', 'interop']);
  assert.equal(run.stdout, 'interop\n', run.stderr);
  // same bytes as the embedded busybox: one image, two tags
  const id = (await root.nb(['images', '-q'])).stdout.trim().split('\n');
  assert.equal(new Set(id).size, 1);
  await root.nb(['create', '--name', 'user-of-bb', 'example.com/tools/bb:1.0']);
  const untag = await root.nb(['rmi', 'example.com/tools/bb:1.0']);
  assert.equal(untag.stdout, 'Untagged: example.com/tools/bb:1.0\n', 'another tag remains: only untagged');
  const refused = await root.nb(['rmi', 'busybox']);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /used by a container/);
  await root.nb(['rm', 'user-of-bb']);
  const removed = await root.nb(['rmi', 'busybox']);
  assert.equal(removed.code, 0, removed.stderr);
  assert.match(removed.stdout, /^Untagged: busybox:latest\nDeleted: sha256:[0-9a-f]{64}\n$/);
  assert.equal((await root.nb(['images', '-q'])).stdout, '');
});

test('info names the accelerator and why; version and --help answer', async () => {
  const info = await root.nb(['info']);
  assert.equal(info.code, 0, info.stderr);
  assert.match(info.stdout, /Accelerator: (TCG|KVM)\n Reason: .+/);
  assert.match(info.stdout, /\/dev\/kvm: /);
  assert.match(info.stdout, /Host is a VM \(nested virtualization\): (yes|no)/);
  assert.match((await root.nb(['--accel', 'tcg', 'info'])).stdout, /Accelerator: TCG\n Reason: forced by NESTBOX_ACCEL\/--accel=tcg/);
  assert.equal((await root.nb(['--accel', 'hvf', 'info'])).code, 125);
  const json = JSON.parse((await root.nb(['info', '--format', 'json'])).stdout);
  assert.ok(['tcg', 'kvm'].includes(json.accelerator.accel));
  assert.match((await root.nb(['--version'])).stdout, /^nestbox version \d+\.\d+\.\d+/);
  for (const cmd of ['run', 'create', 'start', 'ps', 'logs', 'exec', 'stop', 'kill', 'rm', 'wait', 'inspect', 'load', 'images', 'rmi', 'info', 'version']) {
    const h = await root.nb([cmd, '--help']);
    assert.equal(h.code, 0, cmd);
    assert.match(h.stdout, new RegExp(`Usage: nestbox ${cmd}`));
  }
});
