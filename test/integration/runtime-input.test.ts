import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { processesMatching } from '../helpers/cli.js';
import { makeBundle, RuntimeRoot } from './runtime-fixture.js';
import { idleTapName } from '../../src/runtime/vm-files.js';

// Bad input to nestbox-runtime: each gives a clear error (stderr and the --log JSON), a non-zero
// exit, and leaves no VM or state behind.
const r = new RuntimeRoot();
after(async () => {
  for (const id of existsSync(path.join(r.root, 'vm')) ? readdirSync(path.join(r.root, 'vm')) : []) await r.rt(['delete', '--force', id]);
  r.dispose();
});

/** VM size by annotation (both VM tests use the same, so they share one template). */
const SIZE = { 'io.nestbox.memory': '384m', 'io.nestbox.cpus': '2' };

const bundleDir = (name: string) => {
  const d = path.join(r.dir, name);
  mkdirSync(d, { recursive: true });
  return d;
};

/** The command fails, saying `pattern` on stderr and as the last error in the JSON log. */
async function fails(args: string[], pattern: RegExp) {
  const res = await r.rt(args);
  assert.notEqual(res.code, 0, `${args.join(' ')} succeeded`);
  assert.match(res.stderr, pattern);
  const last = r.logLines().at(-1);
  assert.equal(last?.level, 'error');
  assert.match(last!.msg, pattern);
  return res;
}

async function nothingLeft(id: string) {
  assert.ok(!existsSync(path.join(r.root, 'vm', id)), `state of ${id} left behind`);
  assert.deepEqual(await processesMatching(path.join(r.root, 'vm', id)), [], `processes of ${id} left behind`);
  assert.ok(!existsSync(`/sys/class/net/${idleTapName(path.join(r.root, 'vm', id))}`), `tap of ${id} left behind`);
  await fails(['state', id], new RegExp(`container "${id}" does not exist`));
}

test('create: a bundle without config.json', async () => {
  const b = bundleDir('empty');
  await fails(['create', '--bundle', b, 'x1'], /no config\.json there/);
  await nothingLeft('x1');
  await fails(['create', '--bundle', path.join(r.dir, 'no-such-dir'), 'x1'], /the bundle directory does not exist/);
  await nothingLeft('x1');
});

test('create: config.json that is not valid JSON', async () => {
  const b = bundleDir('badjson');
  writeFileSync(path.join(b, 'config.json'), '{"ociVersion": "1.0.2", "process": ');
  await fails(['create', '--bundle', b, 'x2'], /config\.json is not valid JSON/);
  await nothingLeft('x2');
});

test('create: a missing rootfs, an empty process', async () => {
  const b = makeBundle(bundleDir('norootfs'), ['true']);
  rmSync(path.join(b, 'rootfs'), { recursive: true });
  await fails(['create', '--bundle', b, 'x3'], /rootfs `.*rootfs` \(root\.path in config\.json\) does not exist/);
  await nothingLeft('x3');
  const e = makeBundle(bundleDir('noargs'), []);
  await fails(['create', '--bundle', e, 'x4'], /process\.args must be a non-empty list/);
  await nothingLeft('x4');
  const t = makeBundle(bundleDir('tty'), ['true'], { process: { terminal: true, args: ['true'], cwd: '/' } });
  await fails(['create', '--bundle', t, 'x5'], /--console-socket is required/);
  await nothingLeft('x5');
  await fails(['create', '--bundle', e, '../escape'], /invalid container ID/);
  const nf = makeBundle(bundleDir('nocmd'), ['no-such-command']);
  await fails(['create', '--bundle', nf, 'x6'], /exec: "no-such-command": executable file not found in \$PATH/);
  await nothingLeft('x6');
});

test('an unknown ID: state, start, kill, delete, exec, pause', async () => {
  for (const args of [['state'], ['start'], ['kill'], ['delete'], ['delete', '--force'], ['pause'], ['exec']]) {
    const cmd = [...args, 'nope'];
    if (cmd[0] === 'exec') cmd.push('true');
    await fails(cmd, /container "nope" does not exist/);
  }
});

test('start twice, delete of a running container, unknown signals; then delete --force cleans up', async () => {
  const b = makeBundle(bundleDir('sleeper'), ['sleep', '1000'], { annotations: SIZE });
  const pidFile = path.join(r.dir, 'sleeper.pid');
  const c = await r.rtDetached(['create', '--bundle', b, '--pid-file', pidFile, 'c1']);
  assert.equal(c.code, 0, c.stderr);
  await fails(['create', '--bundle', b, 'c1'], /container "c1" already exists/);
  assert.equal(JSON.parse((await r.rt(['state', 'c1'])).stdout).status, 'created');
  assert.equal((await r.rt(['start', 'c1'])).code, 0);
  assert.equal(JSON.parse((await r.rt(['state', 'c1'])).stdout).pid, Number(readFileSync(pidFile, 'utf8')));
  await fails(['start', 'c1'], /cannot start container c1: it is running, not created \(it was already started\)/);
  // the VM's size comes from the annotations; exec runs in it (foreground: exits as the process does)
  const mem = await r.rt(['exec', 'c1', 'sh', '-c', 'grep MemTotal /proc/meminfo; grep -c ^processor /proc/cpuinfo; exit 7']);
  assert.equal(mem.code, 7, mem.stderr);
  const [, kib, cpus] = /MemTotal:\s+(\d+) kB\n(\d+)\n/.exec(mem.stdout) ?? [];
  assert.ok(Number(kib) > 300 * 1024 && Number(kib) <= 384 * 1024, `MemTotal ${kib} kB for a 384 MiB VM`);
  assert.equal(cpus, '2');
  await fails(['exec', 'c1', 'no-such-command'], /exec: "no-such-command": executable file not found/);
  // resources cannot change in a running VM: accepted, with a warning in the log; empty stats
  assert.equal((await r.rt(['update', '--memory', '1073741824', 'c1'])).code, 0);
  assert.match(r.logLines().at(-1)!.msg, /not applied/);
  assert.deepEqual(JSON.parse((await r.rt(['events', '--stats', 'c1'])).stdout), { type: 'stats', id: 'c1', data: {} });
  await fails(['kill', 'c1', 'SIGNOPE'], /unknown signal "SIGNOPE"/);
  await fails(['kill', 'c1', '99'], /signal numbers go from 1 to 64/);
  await fails(['delete', 'c1'], /cannot delete container c1: it is running; stop it first/);
  const st = JSON.parse((await r.rt(['state', 'c1'])).stdout);
  assert.equal(st.status, 'running', 'a refused delete must not touch the container');
  assert.equal((await r.rt(['delete', '--force', 'c1'])).code, 0);
  await nothingLeft('c1');
});

test('kill of a created container ends it; its waiter dies by that signal', async () => {
  const b = makeBundle(bundleDir('created'), ['true'], { annotations: SIZE });
  assert.equal((await r.rtDetached(['create', '--bundle', b, 'c2'])).code, 0);
  assert.equal((await r.rt(['kill', 'c2', 'KILL'])).code, 0);
  for (let i = 0; i < 50 && JSON.parse((await r.rt(['state', 'c2'])).stdout).status !== 'stopped'; i++) await new Promise((res) => setTimeout(res, 100));
  assert.equal(JSON.parse((await r.rt(['state', 'c2'])).stdout).status, 'stopped');
  await fails(['start', 'c2'], /cannot start container c2: it is stopped/);
  await fails(['kill', 'c2'], /cannot kill container c2: it is not running/);
  assert.equal((await r.rt(['delete', 'c2'])).code, 0);
  await nothingLeft('c2');
});

test('containers of one rootfs share one root disk and at most one VM template (in the data dir, not the root)', () => {
  const entries = (d: string) => (existsSync(path.join(r.data, d)) ? readdirSync(path.join(r.data, d)).filter((n) => !n.startsWith('.')) : []);
  assert.equal(entries('disks').length, 1, `disks: ${entries('disks').join(', ')}`);
  // one template, unless it could not be restored (then it is removed and the containers boot)
  assert.ok(entries('templates').length <= 1, `templates: ${entries('templates').join(', ')}`);
});
