import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';

// The default network is made on first use. Many first uses at once, from several processes (CLIs)
// and within one (an engine starting many containers), must all get the one network, never
// `no such network: bridge`, and a name left claimed by a creator that died is taken over.
// Only the state root and the subnet claims (a temp dir here) are touched: no host devices.
const tmp = mkdtempSync(path.join(tmpdir(), 'nb-netdef-'));
process.env.NESTBOX_SUBNET_CLAIMS = path.join(tmp, 'subnets');
const networks = () => import('../../src/core/networks.js');
const rootOf = (name: string) => path.join(tmp, name);

/** `ensureDefault()` on `root` in a separate node process; resolves to the network's id. */
function ensureInChild(root: string): Promise<string> {
  const code = `import(${JSON.stringify(path.resolve('src/core/networks.ts'))}).then(async (m) => process.stdout.write((await new m.NetworkStore(${JSON.stringify(root)}).ensureDefault()).id))`;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', 'tsx', '-e', code], { stdio: ['ignore', 'pipe', 'pipe'], env: process.env });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('exit', (status) => (status === 0 ? resolve(out) : reject(new Error(`child exited ${status}: ${err}`))));
  });
}

before(() => mkdirSync(process.env.NESTBOX_SUBNET_CLAIMS!, { recursive: true }));
after(() => rmSync(tmp, { recursive: true, force: true }));

describe('default network', () => {
  test('first uses at once in one process get one network', async () => {
    const { NetworkStore } = await networks();
    const root = rootOf('one-process');
    const recs = await Promise.all(Array.from({ length: 12 }, () => new NetworkStore(root).ensureDefault()));
    assert.equal(new Set(recs.map((r) => r.id)).size, 1);
    assert.equal((await new NetworkStore(root).list()).length, 1);
  });

  test('first uses at once in several processes get one network', async () => {
    const { NetworkStore } = await networks();
    const root = rootOf('processes');
    const ids = await Promise.all(Array.from({ length: 6 }, () => ensureInChild(root)));
    assert.match(ids[0]!, /^[0-9a-f]{64}$/);
    assert.deepEqual(new Set(ids), new Set([ids[0]]));
    const list = await new NetworkStore(root).list();
    assert.deepEqual(list.map((n) => n.id), [ids[0]]);
    // one subnet claimed for it, by this root
    const claims = readdirSync(process.env.NESTBOX_SUBNET_CLAIMS!).filter((f) => f.includes(list[0]!.subnet.split('/')[0]!));
    assert.equal(claims.length, 1);
  });

  test('a name claimed by a creator that died before writing the record is taken over', async () => {
    const { NetworkStore } = await networks();
    const root = rootOf('half-made');
    const dead = 'f'.repeat(64);
    mkdirSync(path.join(root, 'networks', 'names'), { recursive: true });
    writeFileSync(path.join(root, 'networks', 'names', 'bridge'), dead);
    mkdirSync(path.join(root, 'networks', dead, 'ips'), { recursive: true });
    const store = new NetworkStore(root);
    const rec = await store.ensureDefault();
    assert.notEqual(rec.id, dead);
    assert.deepEqual((await store.list()).map((n) => n.id), [rec.id]);
    assert.equal((await store.get('bridge')).id, rec.id);
  });

  test('a user network of a name being made at once is made once, the others conflict', async () => {
    const { NetworkStore } = await networks();
    const root = rootOf('named');
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => new NetworkStore(root).create('net-x')));
    assert.equal(results.filter((r) => r.status === 'fulfilled').length, 1);
    for (const r of results) if (r.status === 'rejected') assert.equal((r.reason as { code?: string }).code, 'NETWORK_EXISTS');
  });
});
