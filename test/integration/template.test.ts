import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, writeFileSync, chmodSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import * as path from 'node:path';
import { TestRoot, processesMatching } from '../helpers/cli.js';
import { tapName } from '../../src/core/network-attach.js';
import type { Container } from '../../src/core/container.js';

// VM templates: one template is built by the first run and shared by every test in this file.
const root = new TestRoot();
after(() => root.dispose());

const ok = (args: string[], env: Record<string, string> = {}) => root.ok(args, { env });
const inspect = async (name: string) => JSON.parse(await ok(['inspect', name]))[0];
const templatesDir = path.join(root.dir, 'templates');
const keys = () => (existsSync(templatesDir) ? readdirSync(templatesDir).filter((n) => /^[0-9a-f]{16}$/.test(n)) : []);
const qemusOf = async (id: string) => (await processesMatching(id)).filter((p) => p.includes('qemu-system'));

test('two concurrent first runs build one template; later runs restore from it', async () => {
  const [a, b] = await Promise.all([
    ok(['run', '-d', '--name', 'first-a', 'busybox', 'sleep', '600']),
    ok(['run', '-d', '--name', 'first-b', 'busybox', 'sleep', '600']),
  ]);
  assert.equal(keys().length, 1, `one template expected, found ${keys().join(', ')}`);
  const [key] = keys();
  for (const n of ['first-a', 'first-b']) assert.equal((await inspect(n)).Nestbox.Template, key, `${n} was not restored from the template`);
  assert.match(await ok(['template', 'ls']), new RegExp(`${key}\\s+busybox\\s+[0-9a-f]{12}\\s+256MiB\\s+1\\s+(tcg|kvm)`));
  await ok(['rm', '-f', 'first-a', 'first-b']);
  for (const id of [a, b]) assert.deepEqual(await qemusOf(id.trim()), [], 'rm -f left QEMU running');
});

test('restored sandboxes run commands and each has its own identity, clock and writable layer', async () => {
  // the saved guest's clock stopped when the template was saved: make that long enough ago to tell
  const [key] = keys();
  const created = Date.parse(JSON.parse(readFileSync(path.join(templatesDir, key!, 'manifest.json'), 'utf8')).created);
  await sleep(Math.max(0, created + 15_000 - Date.now()));
  const ids = await Promise.all(['one', 'two'].map((n) => ok(['run', '-d', '--name', n, '--hostname', `host-${n}`, 'busybox', 'sleep', '600'])));
  const seen = [];
  for (const n of ['one', 'two']) {
    assert.equal((await inspect(n)).Nestbox.Template, key);
    const out = await ok(['exec', n, 'sh', '-c', 'hostname; cat /etc/machine-id; head -c16 /dev/urandom | od -x | head -1; date +%s']);
    const [hostname, machineId, random, date] = out.trim().split('\n');
    assert.equal(hostname, `host-${n}`);
    assert.match(machineId!, /^[0-9a-f]{32}$/);
    assert.ok(Math.abs(Number(date) - Date.now() / 1000) < 5, `guest clock ${date} is off`);
    seen.push({ machineId, random });
  }
  assert.notEqual(seen[0]!.machineId, seen[1]!.machineId);
  assert.notEqual(seen[0]!.random, seen[1]!.random);

  // a write in one is seen neither in the other nor in a fresh one
  await ok(['exec', 'one', 'sh', '-c', 'echo mine > /root/written; sync']);
  assert.equal(await ok(['exec', 'one', 'cat', '/root/written']), 'mine\n');
  assert.equal((await root.nb(['exec', 'two', 'cat', '/root/written'])).code, 1);
  const fresh = await root.nb(['run', '--rm', 'busybox', 'cat', '/root/written']);
  assert.equal(fresh.code, 1);
  assert.equal(fresh.stdout, '');

  await ok(['rm', '-f', 'one', 'two']);
  for (const id of ids) {
    assert.deepEqual(await qemusOf(id.trim()), []);
    assert.equal(existsSync(path.join(root.dir, 'containers', id.trim())), false);
  }
  // the template is untouched by its sandboxes
  assert.deepEqual(keys(), [key]);
});

test('a template guest is saved prepared: a restored one takes its own network (or none) and identity, over bind-mounted /etc files', async () => {
  const [key] = keys();
  assert.equal(JSON.parse(readFileSync(path.join(templatesDir, key!, 'manifest.json'), 'utf8')).version, 2);
  const nettedId = (await ok(['run', '-d', '--name', 'netted', 'busybox', 'sleep', '600'])).trim();
  assert.equal((await inspect('netted')).Nestbox.Template, key);
  // nothing announced the template's placeholder MAC after the load (QEMU's RARPs, the guest's
  // gratuitous ARPs): the bridge never learned it on this sandbox's tap
  const fdb = execFileSync('bridge', ['fdb', 'show', 'dev', tapName({ config: { id: nettedId } } as Container, 0)], { encoding: 'utf8' });
  assert.doesNotMatch(fdb, /02:42:00:00:00:00/, fdb);
  const ip = (await inspect('netted')).NetworkSettings.IPAddress as string;
  const sh = (script: string) => ok(['exec', 'netted', 'sh', '-c', script]);
  // the template's placeholder address and MAC are gone; its own are on the NIC it brought up
  const addr = await sh('ip -4 -o addr show eth0; cat /sys/class/net/eth0/address; ip route');
  assert.match(addr, new RegExp(`inet ${ip.replace(/\./g, '\\.')}/`), addr);
  assert.doesNotMatch(addr, /169\.254\.|02:42:00:00:00:00/, addr);
  assert.match(addr, /^default via /m, addr);
  // IPv4-only network: no IPv6 on the NIC (as Docker), ::1 kept on lo
  assert.equal((await sh('cat /proc/sys/net/ipv6/conf/eth0/disable_ipv6')).trim(), '1');
  assert.match(await sh('ip -6 addr show lo'), /::1\/128/);
  // identity files are the agent's, bind-mounted: rewritten at RUN without touching the writable layer
  const mounts = await sh('grep -E " /etc/(hostname|hosts|resolv.conf|machine-id) " /proc/mounts | wc -l; cat /etc/hostname; grep -c "$(hostname)" /etc/hosts; cat /etc/resolv.conf');
  const [count, hostname, inHosts, ...resolv] = mounts.trim().split('\n');
  assert.equal(count, '4', mounts);
  assert.equal(hostname, (await inspect('netted')).Config.Hostname);
  assert.notEqual(hostname, 'nestbox-template');
  assert.equal(inHosts, '2', `the hostname is not on 127.0.1.1 and its address in /etc/hosts: ${mounts}`);
  assert.match(resolv.join('\n'), /^nameserver /m, mounts);
  assert.match(await sh('echo extra >> /etc/hosts && tail -1 /etc/hosts'), /^extra$/m);
  // under TCG its QEMU runs without transparent huge pages (nestbox-vmm-exec)
  const nb = (await inspect('netted')).Nestbox;
  if (nb.Accelerator === 'tcg') assert.match(readFileSync(`/proc/${nb.MonitorPid}/status`, 'utf8'), /^THP_enabled:\s+0$/m);
  await ok(['rm', '-f', 'netted']);
  // on no network the NIC the template brought up is taken down again, without an address
  const none = await ok(['run', '--rm', '--network', 'none', 'busybox', 'sh', '-c', 'ip -o addr show eth0; cat /sys/class/net/eth0/operstate']);
  assert.doesNotMatch(none, /inet |169\.254/, none);
  assert.match(none, /^down$/m, none);
});

test('a restore that times out (a host too loaded to answer) boots instead and keeps the template', async () => {
  const [key] = keys();
  const r = await root.nb(['run', '--rm', 'busybox', 'echo', 'slow-host'], { env: { NESTBOX_DEBUG: '1', NESTBOX_TEMPLATE_HELLO_MS: '1' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'slow-host\n');
  assert.match(r.stderr, /booting instead of restoring/);
  assert.doesNotMatch(r.stderr, /removing template/);
  assert.deepEqual(keys(), [key]);
  await ok(['run', '-d', '--name', 'after-slow', 'busybox', 'sleep', '60']);
  assert.equal((await inspect('after-slow')).Nestbox.Template, key, 'the next run restores from the same template');
  await ok(['rm', '-f', 'after-slow']);
});

test('a corrupted template falls back to a cold boot (and is replaced on the next run)', async () => {
  const [key] = keys();
  const state = path.join(templatesDir, key!, 'state');
  chmodSync(state, 0o600);
  writeFileSync(state, Buffer.from(readFileSync(state).map((b, i) => (i > 100 && i < 400 ? b ^ 0xff : b))));
  const r = await root.nb(['run', '--name', 'cold', 'busybox', 'echo', 'still-runs'], { env: { NESTBOX_DEBUG: '1' } });
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'still-runs\n');
  assert.match(r.stderr, /booting instead of restoring.*(corrupt|does not match)/);
  assert.equal((await inspect('cold')).Nestbox.Template, null);
  await ok(['rm', 'cold']);
  // the next run builds a new template and restores from it
  await ok(['run', '-d', '--name', 'again', 'busybox', 'sleep', '60']);
  assert.equal((await inspect('again')).Nestbox.Template, keys()[0]);
  await ok(['rm', '-f', 'again']);
});

test('--no-template and NESTBOX_TEMPLATES=0 boot; template rm and create', async () => {
  await ok(['run', '-d', '--name', 'nt', '--no-template', 'busybox', 'sleep', '60']);
  assert.equal((await inspect('nt')).Nestbox.Template, null);
  await ok(['rm', '-f', 'nt']);
  assert.equal(await ok(['run', '--rm', 'busybox', 'echo', 'env-off'], { NESTBOX_TEMPLATES: '0' }), 'env-off\n');

  const [key] = keys();
  assert.equal(await ok(['template', 'rm', 'busybox']), `${key}\n`);
  assert.deepEqual(keys(), []);
  const missing = await root.nb(['template', 'rm', key!]);
  assert.notEqual(missing.code, 0);
  assert.match(missing.stderr, /no such template/);
  const created = (await ok(['template', 'create', 'busybox'])).trim();
  assert.deepEqual(keys(), [created]);
  assert.equal(await ok(['template', 'ls', '-q']), `${created}\n`);
});
