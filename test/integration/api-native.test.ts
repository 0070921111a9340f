import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { REPO, TestRoot } from '../helpers/cli.js';
import { startServe, stopServe } from '../helpers/serve.js';

// The native API as docs/api.md documents it, checked endpoint by endpoint against the server.
const root = new TestRoot();
const sock = path.join(root.dir, 'n.sock');
let server: ChildProcess;
before(async () => {
  server = (await startServe(root.dir, sock)).child;
});
after(async () => {
  await stopServe(server);
  await root.dispose();
});

function get(urlPath: string): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    http.get({ socketPath: sock, path: urlPath }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    }).on('error', reject);
  });
}

/** Rows of the "Native API" table: endpoint, kind, documented fields. */
function documented(): Array<{ endpoint: string; kind: string; fields: string[] }> {
  const doc = readFileSync(path.join(REPO, 'docs', 'api.md'), 'utf8');
  const section = doc.slice(doc.indexOf('## Native API'));
  const rows = [...section.matchAll(/^\| `GET (\/nestbox\/v1\/[^`]+)` \| (\w+) \| (.+) \|$/gm)];
  const fieldsOf = (cell: string): string[] => [...cell.matchAll(/`(\w+)`/g)].map((m) => m[1]!);
  const out = rows.map((m) => ({ endpoint: m[1]!, kind: m[2]!, fields: fieldsOf(m[3]!) }));
  const list = out.find((r) => r.endpoint === '/nestbox/v1/sandboxes')!;
  for (const r of out) if (r.fields.length === 0) r.fields = list.fields; // "same as one element of …"
  return out;
}

test('every documented native endpoint answers with exactly the documented fields', async () => {
  const id = (await root.nb(['create', '--name', 'native1', '--isolation', 'process', 'busybox', 'true'])).stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const rows = documented();
  assert.equal(rows.length, 3, 'the doc lists the three endpoints');
  for (const row of rows) {
    const { status, body } = await get(row.endpoint.replace('{id}', 'native1'));
    assert.equal(status, 200, row.endpoint);
    const obj = (row.kind === 'array' ? (body as unknown[])[0] : body) as Record<string, unknown>;
    if (row.kind === 'array') assert.ok(Array.isArray(body) && body.length === 1, row.endpoint);
    assert.deepEqual(Object.keys(obj).sort(), [...row.fields].sort(), `${row.endpoint} fields match docs/api.md`);
  }
  const info = (await get('/nestbox/v1/info')).body as { accelerator: { accel: string; reason: string } };
  assert.ok(['kvm', 'tcg'].includes(info.accelerator.accel));
  assert.ok(info.accelerator.reason.length > 0);
  const one = (await get(`/nestbox/v1/sandboxes/${id.slice(0, 12)}`)).body as { name: string; isolation: string; status: string };
  assert.deepEqual([one.name, one.isolation, one.status], ['native1', 'process', 'created']);
  const missing = await get('/nestbox/v1/sandboxes/nope');
  assert.equal(missing.status, 404);
  assert.match((missing.body as { message: string }).message, /no such container: nope/);
  await root.nb(['rm', 'native1']);
});
