import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import * as path from 'node:path';
import { REPO } from '../helpers/cli.js';

// The guest agent's own C tests (guest-agent/test_*.c: frame codec, allocator), built and run by
// its Makefile with the compilers the set-up installs.
test('guest agent C unit tests pass', () => {
  const dir = path.join(REPO, 'guest-agent');
  const r = spawnSync('make', ['-s', '-C', dir, 'test'], { encoding: 'utf8', timeout: 120_000 });
  assert.equal(r.status, 0, `make test failed:\n${r.stdout}\n${r.stderr}`);
  assert.match(r.stdout, /test_frame: \d+ checks, 0 failed/);
  assert.match(r.stdout, /test_alloc: \d+ checks, 0 failed/);
});
