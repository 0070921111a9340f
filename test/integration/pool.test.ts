import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NESTBOX, TestRoot } from '../helpers/cli.js';
import { stopServe } from '../helpers/serve.js';

// The warm pool of `nestbox serve --pool N`: hidden ready sandboxes, adopted by API creates,
// refilled, removed with the server, swept after a SIGKILLed server.
const root = new TestRoot();
const sock = path.join(root.dir, 'p.sock');
const servers: ChildProcess[] = [];
after(async () => {
  for (const s of servers) await stopServe(s);
  await root.dispose();
});

async function serve(extra: string[]): Promise<ChildProcess> {
  let log = '';
  const child = spawn(NESTBOX, ['--root', root.dir, 'serve', '-H', `unix://${sock}`, ...extra], { stdio: ['ignore', 'pipe', 'pipe'] });
  servers.push(child);
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!log.includes('API listening')) {
    if (child.exitCode !== null || Date.now() > deadline) throw new Error(`nestbox serve did not start: ${log}`);
    await sleep(50);
  }
  return child;
}

interface Sandbox {
  id: string;
  pool: boolean;
  warm: boolean;
  pid?: number;
}

/** Containers on disk, pool sandboxes included (ps hides them). */
function sandboxes(): Sandbox[] {
  const dir = path.join(root.dir, 'containers');
  if (!existsSync(dir)) return [];
  const out: Sandbox[] = [];
  for (const id of readdirSync(dir).filter((n) => /^[0-9a-f]{64}$/.test(n))) {
    try {
      const config = JSON.parse(readFileSync(path.join(dir, id, 'config.json'), 'utf8')) as { pool?: unknown };
      const state = JSON.parse(readFileSync(path.join(dir, id, 'state.json'), 'utf8')) as { warm?: boolean; pid?: number };
      out.push({ id, pool: !!config.pool, warm: !!state.warm, ...(state.pid ? { pid: state.pid } : {}) });
    } catch {
      // being written or removed
    }
  }
  return out;
}

async function readyPool(n: number, except: string[] = []): Promise<Sandbox[]> {
  const deadline = Date.now() + 240_000;
  for (;;) {
    const ready = sandboxes().filter((s) => s.pool && s.warm && !except.includes(s.id));
    if (ready.length >= n) return ready;
    if (Date.now() > deadline) throw new Error(`the pool did not fill: ${JSON.stringify(sandboxes())}`);
    await sleep(250);
  }
}

/** Running (a zombie waiting for a reaper that is not us does not count). */
const alive = (pid: number | undefined) => {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return pid !== undefined && stat.slice(stat.lastIndexOf(')') + 2)[0] !== 'Z';
  } catch {
    return false;
  }
};

function api(method: string, urlPath: string, body?: unknown): Promise<{ status: number; body: unknown }> {
  return new Promise((resolve, reject) => {
    const req = http.request({ socketPath: sock, path: urlPath, method, headers: { 'content-type': 'application/json' } }, (res) => {
      let text = '';
      res.on('data', (d: Buffer) => (text += d.toString()));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text ? JSON.parse(text) : undefined }));
    });
    req.on('error', reject);
    req.end(body === undefined ? undefined : JSON.stringify(body));
  });
}

test('an API create adopts a ready pool sandbox (hidden from ps), which runs the command; the pool refills and goes with the server', async () => {
  const server = await serve(['--pool', '1']);
  const [warm] = await readyPool(1);
  assert.ok(alive(warm!.pid), 'the pool sandbox has its QEMU up');
  assert.ok(!(await root.nb(['ps', '-a', '-q', '--no-trunc'])).stdout.includes(warm!.id), 'ps does not list pool sandboxes');

  const created = await api('POST', '/containers/create?name=pooled1', { Image: 'busybox', Cmd: ['sh', '-c', 'echo hi from $(hostname)'] });
  assert.equal(created.status, 201, JSON.stringify(created.body));
  const id = (created.body as { Id: string }).Id;
  assert.equal(id, warm!.id, 'the create adopted the pool sandbox');
  assert.equal((await api('POST', `/containers/${id}/start`)).status, 204);
  const waited = await api('POST', `/containers/${id}/wait`);
  assert.equal((waited.body as { StatusCode: number }).StatusCode, 0);
  assert.equal((await root.nb(['logs', 'pooled1'])).stdout.trim(), `hi from ${id.slice(0, 12)}`);
  const listed = (await root.nb(['ps', '-a', '--format', 'json'])).stdout;
  assert.ok(listed.includes('pooled1'), 'the adopted container is a user container');

  const [next] = await readyPool(1, [warm!.id]);
  assert.notEqual(next!.id, warm!.id, 'the pool refilled');
  await stopServe(server);
  assert.ok(!sandboxes().some((s) => s.pool), 'SIGTERM removes the pool sandboxes');
  assert.ok(!alive(next!.pid), 'and their QEMU');
  assert.ok(sandboxes().some((s) => s.id === id), 'the adopted container stays');
  await root.nb(['rm', '-f', 'pooled1']);
});

test('pool sandboxes of a SIGKILLed server are swept when a server starts again', async () => {
  const server = await serve(['--pool', '1']);
  const [warm] = await readyPool(1);
  server.kill('SIGKILL');
  await new Promise((r) => server.once('exit', r));
  assert.ok(alive(warm!.pid), 'its QEMU outlived the server');
  const again = await serve([]);
  assert.ok(!sandboxes().some((s) => s.pool), 'the next server removed them');
  assert.ok(!alive(warm!.pid), 'and their QEMU');
  await stopServe(again);
});

test('an adopted sandbox: the caller\'s hostname and name, the exit code from the guest, exited as soon as wait returns, removed without leaving its QEMU', async () => {
  const server = await serve(['--pool', '1']);
  try {
    const [warm] = await readyPool(1);
    // PREPARE set up the pool's hostname; this RUN asks for another, so the agent rewrites the identity files
    const script = 'hostname; cat /etc/hostname; grep -c custom /etc/hosts; wc -c < /etc/machine-id; exit 3';
    const created = await api('POST', '/containers/create?name=pooled2', { Image: 'busybox', Hostname: 'custom', Cmd: ['sh', '-c', script] });
    const id = (created.body as { Id: string }).Id;
    assert.equal(id, warm!.id, 'the create adopted the pool sandbox');
    assert.equal((await api('POST', `/containers/${id}/start`)).status, 204);
    assert.equal(((await api('POST', `/containers/${id}/wait`)).body as { StatusCode: number }).StatusCode, 3, 'the exit code comes from the guest');
    // wait returned on the guest's EXIT: the state says so at once, whether or not the VM is still powering off
    const state = ((await api('GET', `/containers/${id}/json`)).body as { State: { Status: string; ExitCode: number; Running: boolean } }).State;
    assert.deepEqual([state.Status, state.ExitCode, state.Running], ['exited', 3, false]);
    assert.equal((await root.nb(['logs', 'pooled2'])).stdout, 'custom\ncustom\n2\n33\n');
    const net = (await api('GET', '/networks/bridge')).body as { Containers: Record<string, { Name: string }> };
    assert.equal(net.Containers[id]?.Name, 'pooled2', 'its network endpoint carries the new name');
    assert.equal((await api('DELETE', `/containers/${id}`)).status, 204, 'an exited container is removed even while its VM powers off');
    assert.ok(!alive(warm!.pid), 'its QEMU is gone');

    // docker run --rm: wait?condition=removed returns once the container is gone, with its exit code
    const [next] = await readyPool(1, [warm!.id]);
    const rm = await api('POST', '/containers/create', { Image: 'busybox', Cmd: ['sh', '-c', 'exit 5'], HostConfig: { AutoRemove: true } });
    const rmId = (rm.body as { Id: string }).Id;
    assert.equal(rmId, next!.id);
    const removed = api('POST', `/containers/${rmId}/wait?condition=removed`);
    assert.equal((await api('POST', `/containers/${rmId}/start`)).status, 204);
    assert.equal(((await removed).body as { StatusCode: number }).StatusCode, 5);
    assert.equal((await api('GET', `/containers/${rmId}/json`)).status, 404, 'removed when the removed-condition wait returns');
    assert.ok(!alive(next!.pid), 'with its QEMU');
  } finally {
    await stopServe(server);
  }
});
