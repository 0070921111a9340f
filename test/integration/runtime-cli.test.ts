import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { makeBundle, RuntimeRoot, RUNTIME } from './runtime-fixture.js';
import { runCommand } from '../helpers/cli.js';

// The runtime-spec command line itself: version, features, state, errors in the --log file.
const r = new RuntimeRoot();
after(() => r.dispose());

test('--version prints three lines: version, commit, spec', async () => {
  const v = await runCommand(RUNTIME, ['--version']);
  assert.equal(v.code, 0);
  const lines = v.stdout.trimEnd().split('\n');
  assert.equal(lines.length, 3);
  assert.match(lines[0]!, /^nestbox-runtime version \d+\.\d+\.\d+/);
  assert.match(lines[1]!, /^commit: \S+$/);
  assert.match(lines[2]!, /^spec: 1\.\d+\.\d+$/);
});

test('features: JSON on stdout, nothing on stderr', async () => {
  const f = await r.rt(['features']);
  assert.equal(f.code, 0);
  assert.equal(f.stderr, '');
  const doc = JSON.parse(f.stdout);
  assert.equal(doc.ociVersionMin, '1.0.0');
  assert.ok(Array.isArray(doc.mountOptions));
});

test('global flags callers pass are accepted (--systemd-cgroup, --debug, -v)', async () => {
  const f = await runCommand(RUNTIME, ['--root', r.root, '--systemd-cgroup', '--debug', '--log-format=json', 'features']);
  assert.equal(f.code, 0, f.stderr);
  assert.equal((await runCommand(RUNTIME, ['-v'])).stdout.split('\n').length, 4);
});

test('an unknown ID: JSON error in the log and on stderr, non-zero exit', async () => {
  const s = await r.rt(['state', 'no-such-id']);
  assert.notEqual(s.code, 0);
  assert.match(s.stderr, /container "no-such-id" does not exist/);
  const last = r.logLines().at(-1)!;
  assert.equal(last.level, 'error');
  assert.match(last.msg, /container "no-such-id" does not exist/);
  assert.ok(!Number.isNaN(Date.parse(last.time)));
});

test('unknown command and unknown flag are errors, without --log they go to stderr', async () => {
  const u = await runCommand(RUNTIME, ['--root', r.root, 'frobnicate', 'x']);
  assert.equal(u.code, 1);
  assert.match(u.stderr, /unknown command "frobnicate"/);
  const f = await runCommand(RUNTIME, ['--root', r.root, 'state', '--bogus', 'x']);
  assert.equal(f.code, 1);
  assert.match(f.stderr, /unknown flag --bogus/);
});

test('a Kubernetes pod sandbox (pause) container goes to runc, under ROOT/runc', async () => {
  const bundle = makeBundle(path.join(r.dir, 'sandbox'), ['sleep', '100']);
  // runc wants a full spec: start from its own template
  rmSync(path.join(bundle, 'config.json'));
  assert.equal((await runCommand('runc', ['spec', '--bundle', bundle])).code, 0);
  const config = JSON.parse(readFileSync(path.join(bundle, 'config.json'), 'utf8'));
  config.process.terminal = false;
  config.process.args = ['sleep', '100'];
  config.annotations = { 'io.kubernetes.cri.container-type': 'sandbox' };
  writeFileSync(path.join(bundle, 'config.json'), JSON.stringify(config));
  const c = await r.rtDetached(['create', '--bundle', bundle, '--pid-file', path.join(r.dir, 'sb.pid'), 'sb1']);
  assert.equal(c.code, 0, c.stderr);
  assert.ok(existsSync(path.join(r.root, 'runc', 'sb1', 'state.json')), 'not runc');
  assert.equal(JSON.parse((await r.rt(['state', 'sb1'])).stdout).status, 'created');
  assert.equal((await r.rt(['delete', '--force', 'sb1'])).code, 0);
  assert.ok(!existsSync(path.join(r.root, 'runc', 'sb1')));
});
