import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { RuntimeRoot, RUNTIME } from './runtime-fixture.js';
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
