import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { COUNTER, NESTBOX, TestRoot, processesMatching, waitUntil } from '../helpers/cli.js';

// `nestbox fork` (docs/checkpoints.md): running copies of a running VM container that share its
// memory copy-on-write, each with its own identity and writable layer.
const root = new TestRoot();
after(() => root.dispose());

const ok = (args: string[]) => root.ok(args);
const lastCount = (name: string) => root.lastCount(name);
const state = (name: string) => root.inspect(name);
const pss = (pid: number) => Number(/^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'))![1]) / 1024;
const tapsOf = (pid: number) => [...readFileSync(`/proc/${pid}/cmdline`, 'utf8').matchAll(/ifname=([^,\0]+)/g)].map((m) => m[1]!);
const forksDir = path.join(root.dir, 'forks');
const psJson = async () => (await ok(['ps', '-a', '--no-trunc', '--format', 'json'])).trim().split('\n').filter(Boolean).map((l) => JSON.parse(l) as { ID: string; Names: string; Status: string });

test('fork: copies run with their own hostname, machine-id and writable layer; the counter continues in each; memory is shared', async () => {
  await ok(['run', '-d', '--name', 'src', 'busybox', ...COUNTER]);
  await ok(['exec', 'src', 'sh', '-c', 'echo before > /f.txt']);
  await sleep(1500);
  const r = await root.nb(['fork', 'src', '--count', '3', '--name-prefix', 'cp'], { env: { NESTBOX_DEBUG: '1' } });
  assert.equal(r.code, 0, r.stderr);
  const atFork = await lastCount('src');
  const ids = r.stdout.trim().split('\n');
  assert.equal(ids.length, 3);
  for (const id of ids) assert.match(id, /^[0-9a-f]{64}$/);
  const names = ['cp1', 'cp2', 'cp3'];
  for (const n of names) assert.equal((await state(n)).State.Status, 'running');
  console.log(`# ${r.stderr.trim()}`);

  // identity: hostname = name, machine-ids all different (and from the source's)
  const hostnames = await Promise.all(names.map((n) => ok(['exec', n, 'hostname'])));
  assert.deepEqual(hostnames, names.map((n) => `${n}\n`));
  const mids = await Promise.all([...names, 'src'].map((n) => ok(['exec', n, 'cat', '/etc/machine-id'])));
  assert.equal(new Set(mids).size, 4, `machine-ids not distinct: ${mids.join(' ')}`);

  // on the source's network, each with its own MAC and address (REIDENTIFY with NET)
  const addr = async (n: string) => (await ok(['exec', n, 'sh', '-c', "ip -o -4 addr show eth0 | awk '{print $4}'; cat /sys/class/net/eth0/address"])).trim();
  const addrs = await Promise.all([...names, 'src'].map(addr));
  assert.equal(new Set(addrs).size, 4, `addresses not distinct: ${addrs.join(' | ')}`);
  const srcIp = addrs[3]!.split('/')[0]!;
  assert.match(await ok(['exec', 'cp1', 'ping', '-c', '1', '-W', '5', srcIp]), /1 packets received/);
  assert.match(await ok(['exec', 'src', 'ping', '-c', '1', '-W', '5', addrs[1]!.split('/')[0]!]), /1 packets received/);

  // the source's main process continues in each copy (its log too)
  await sleep(1500);
  for (const n of names) {
    const log = (await ok(['logs', n])).trim().split('\n').map(Number);
    assert.equal(log[0], 0, 'a copy has the log from before the fork');
    assert.ok(log.at(-1)! > atFork - 5, `${n} continued from the fork (${log.at(-1)} vs ${atFork})`);
    await root.assertCounting(n, `${n} keeps counting`);
  }
  assert.ok((await lastCount('src')) > atFork + 5, 'the source keeps running');

  // writes do not leak: not between copies, not to the source
  assert.equal(await ok(['exec', 'cp1', 'cat', '/f.txt']), 'before\n');
  await ok(['exec', 'cp1', 'sh', '-c', 'echo one > /f.txt; echo mem > /tmp/m.txt']);
  await ok(['exec', 'cp2', 'sh', '-c', 'echo two > /f.txt']);
  assert.equal(await ok(['exec', 'cp1', 'cat', '/f.txt']), 'one\n');
  assert.equal(await ok(['exec', 'cp2', 'cat', '/f.txt']), 'two\n');
  assert.equal(await ok(['exec', 'cp3', 'cat', '/f.txt']), 'before\n');
  assert.equal(await ok(['exec', 'src', 'cat', '/f.txt']), 'before\n');
  assert.equal((await root.nb(['exec', 'cp3', 'cat', '/tmp/m.txt'])).code, 1);

  // memory: a copy's PSS against a fresh VM's (both idle a moment)
  await ok(['run', '-d', '--no-template', '--name', 'fresh', 'busybox', 'sleep', '600']);
  await ok(['run', '-d', '--name', 'tmpl', 'busybox', 'sleep', '600']);
  await sleep(2000);
  const freshPss = pss((await state('fresh')).State.Pid);
  const copyPss = await Promise.all(names.map(async (n) => pss((await state(n)).State.Pid)));
  console.log(`# PSS: fresh (booted) VM ${freshPss.toFixed(1)} MiB, VM restored from its template ${pss((await state('tmpl')).State.Pid).toFixed(1)} MiB, source ${pss((await state('src')).State.Pid).toFixed(1)} MiB, copies ${copyPss.map((p) => p.toFixed(1)).join(', ')} MiB`);
  for (const p of copyPss) assert.ok(p < freshPss * 0.5, `a copy's PSS (${p.toFixed(1)} MiB) is well below a fresh VM's (${freshPss.toFixed(1)} MiB)`);

  // rm of the copies leaves no RAM file, QEMU or tap
  const dirs = ids.map((id) => path.join(root.dir, 'containers', id));
  for (const d of dirs) assert.ok(existsSync(path.join(d, 'ram.fork')));
  const taps = (await Promise.all(names.map(async (n) => tapsOf((await state(n)).State.Pid)))).flat();
  assert.equal(taps.length, 3);
  await ok(['rm', '-f', ...names, 'fresh', 'tmpl']);
  for (const d of dirs) assert.ok(!existsSync(d), `${d} removed`);
  for (const id of ids) assert.deepEqual((await processesMatching(id)).filter((p) => p.includes('qemu-system')), []);
  const links = readdirSync('/sys/class/net');
  for (const t of taps) assert.ok(!links.includes(t), `tap ${t} removed`);
  assert.deepEqual(readdirSync(forksDir), [], 'no fork image left');
  assert.equal((await state('src')).State.Status, 'running');
});

test('fork refuses what it cannot do: a stopped container, a taken name, a bad count', async () => {
  await ok(['create', '--name', 'idle', 'busybox', 'true']);
  const stopped = await root.nb(['fork', 'idle']);
  assert.equal(stopped.code, 125);
  assert.match(stopped.stderr, /not running/);
  await ok(['create', '--name', 'taken2', 'busybox', 'true']);
  const taken = await root.nb(['fork', 'src', '--name-prefix', 'taken', '--count', '2']);
  assert.notEqual(taken.code, 0);
  assert.match(taken.stderr, /taken2 is already in use/);
  assert.equal((await state('src')).State.Status, 'running');
  const bad = await root.nb(['fork', 'src', '--count', '0']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /--count/);
  await ok(['rm', 'idle', 'taken2']);
});

test('kill -9 of the CLI mid-fork: the source keeps running, nothing half-made is listed, the next fork sweeps the rest', async () => {
  const before = new Set((await psJson()).map((c) => c.ID));
  // killed while the source is stopped (its state being saved), then while a copy is being made
  const containersDir = path.join(root.dir, 'containers');
  const saving = () => existsSync(forksDir) && readdirSync(forksDir).some((n) => existsSync(path.join(forksDir, n, 'state')));
  const copying = () => readdirSync(containersDir).some((n) => existsSync(path.join(containersDir, n, 'filling')));
  for (const [prefix, started] of [['ks-', saving], ['kc-', copying]] as const) {
    const cli = spawn(NESTBOX, ['--root', root.dir, 'fork', 'src', '--count', '3', '--name-prefix', prefix], { stdio: 'ignore' });
    await waitUntil(started, 'the fork never started');
    cli.kill('SIGKILL');
    await new Promise((r) => cli.once('close', r));
  }
  for (const c of await psJson()) assert.doesNotMatch(c.Status, /Created/, `half-made copy listed: ${JSON.stringify(c)}`);
  // the next fork sweeps what the killed one left, and works
  const again = await root.nb(['fork', 'src', '--name-prefix', 'after']);
  assert.equal(again.code, 0, again.stderr);
  assert.deepEqual(readdirSync(forksDir), []);
  await root.assertCounting('src', 'the source runs');
  const after = (await psJson()).filter((c) => !before.has(c.ID));
  assert.ok(after.length >= 1);
  for (const c of after) assert.match(c.Status, /^Up /, `every new container is a complete, running copy: ${JSON.stringify(c)}`);
  const qemus = (await processesMatching('qemu-system')).filter((p) => p.includes(root.dir) || p.includes('nbf'));
  const forkHelpers = qemus.filter((p) => p.includes(path.join(root.dir, 'forks')));
  assert.deepEqual(forkHelpers, [], 'no helper QEMU left');
  await ok(['rm', '-f', ...after.map((c) => c.ID), 'src']);
});

test('a continuation whose filler left its owner file empty or unreadable is swept by the next fork; a plain created container is not', async () => {
  const plain = (await ok(['create', '--name', 'plain-created', 'busybox', 'true'])).trim();
  const halfMade = (await ok(['create', '--name', 'half-made', 'busybox', 'true'])).trim();
  // what a filler killed between creating the file and writing it (older nestbox) left behind
  writeFileSync(path.join(root.dir, 'containers', halfMade, 'filling'), '');
  const r = await root.nb(['fork', 'no-such-container']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /no such container/i, 'the fork fails on its source, not on the sweep');
  assert.ok(!existsSync(path.join(root.dir, 'containers', halfMade)), 'the half-made continuation was swept');
  assert.ok(existsSync(path.join(root.dir, 'containers', plain)), 'a plain created container stays');
  await ok(['rm', plain]);
});
