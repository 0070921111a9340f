import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync, utimesSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { ContainerStore } from '../../src/core/container-store.js';
import type { ContainerConfig, ContainerState } from '../../src/core/container.js';

// A create killed between claiming a name (names/<name>) and making its container's directory
// leaves the claim behind; after a minute such a claim no longer blocks the name.
const root = mkdtempSync(path.join(tmpdir(), 'nestbox-names-'));
after(() => rmSync(root, { recursive: true, force: true }));
const store = new ContainerStore(root);
const id = (n: number) => n.toString(16).padStart(64, '0');
const config = (n: number, name: string) => ({ id: id(n), name }) as unknown as ContainerConfig;
const state = { status: 'created' } as unknown as ContainerState;
const claim = (name: string, holder: string, ageSec: number) => {
  mkdirSync(store.paths.names, { recursive: true });
  const f = path.join(store.paths.names, name);
  writeFileSync(f, holder);
  const t = Date.now() / 1000 - ageSec;
  utimesSync(f, t, t);
};

test('a stale claim (old, no container directory) is taken over', async () => {
  claim('old', id(99), 120);
  assert.equal(await store.nameTaken('old'), false);
  const c = await store.create(config(1, 'old'), state);
  assert.equal(await store.resolveId('old'), c.config.id);
  assert.equal(await store.nameTaken('old'), true);
});

test('an empty claim (killed before the id was written) is stale too once old', async () => {
  claim('empty', '', 120);
  await store.create(config(2, 'empty'), state);
  assert.equal(await store.resolveId('empty'), id(2));
});

test('a fresh claim, or one whose container exists, still conflicts', async () => {
  claim('fresh', id(98), 5);
  await assert.rejects(store.create(config(3, 'fresh'), state), /already in use/);
  assert.equal(await store.nameTaken('fresh'), true);
  await store.create(config(4, 'live'), state);
  utimesSync(path.join(store.paths.names, 'live'), 0, 0);
  await assert.rejects(store.create(config(5, 'live'), state), /already in use by container "0+4"/);
  assert.equal(await store.resolveId('live'), id(4));
});
