import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { NESTBOX, TestRoot, processesMatching } from '../helpers/cli.js';

// The detached-container lifecycle, sharing booted VMs between steps where it can.
const root = new TestRoot();
after(() => root.dispose());

const ok = (args: string[], input?: string) => root.ok(args, input === undefined ? {} : { input });

test('detached container: ps, logs (-t, --tail, -f), exec, inspect, stop, restart keeps its layer and log, rm', async () => {
  const id = (await ok(['run', '-d', '--name', 'counter', 'busybox', 'sh', '-c', 'trap "echo bye; exit 3" TERM; i=0; while true; do echo line$i; echo err$i >&2; i=$((i+1)); sleep 0.2; done'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const ps = await ok(['ps']);
  assert.match(ps, /CONTAINER ID\s+IMAGE\s+COMMAND/);
  assert.match(ps, new RegExp(`${id.slice(0, 12)}\\s+busybox\\s.*Up .*vm\\s+counter`));
  const json = JSON.parse((await ok(['ps', '--format', 'json'])).trim().split('\n')[0]!);
  assert.equal(json.Names, 'counter');
  assert.equal(json.State, 'running');
  // two rounds of the loop have run (a deadline, not a fixed sleep: the suite's VMs share 2 cores)
  for (let i = 0; i < 120 && !/err1\n/.test((await root.nb(['logs', 'counter'])).stderr); i++) await sleep(250);

  const logs = await root.nb(['logs', 'counter']);
  assert.match(logs.stdout, /^line0\nline1\n/);
  assert.match(logs.stderr, /^err0\nerr1\n/);
  const tail = await root.nb(['logs', '--tail', '4', 'counter']);
  assert.equal(tail.stdout.trim().split('\n').length, 2, 'the last 4 lines: 2 on stdout, 2 on stderr');
  assert.equal(tail.stderr.trim().split('\n').length, 2);
  const stamped = await root.nb(['logs', '-t', '--tail', '2', 'counter']);
  assert.match(stamped.stdout, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z line\d+\n$/);
  assert.match(stamped.stderr, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{9}Z err\d+\n$/);

  // exec into the same VM: no new QEMU process appears (QEMU's command line names the container dir)
  const qemus = async () => (await processesMatching(id)).filter((p) => p.includes('qemu-system')).length;
  assert.equal(await qemus(), 1);
  assert.equal(await ok(['exec', 'counter', 'echo', 'from-exec']), 'from-exec\n');
  await ok(['exec', 'counter', 'sh', '-c', 'echo kept > /root/kept; sync']);
  assert.equal(await ok(['exec', '-e', 'X=42', '-w', '/tmp', '-u', 'nobody', 'counter', 'sh', '-c', 'echo $X $(pwd) $(id -u)']), '42 /tmp 65534\n');
  assert.equal(await ok(['exec', '-i', 'counter', 'cat'], 'piped\n'), 'piped\n');
  assert.equal((await root.nb(['exec', 'counter', 'sh', '-c', 'exit 5'])).code, 5);
  const nf = await root.nb(['exec', 'counter', 'nope']);
  assert.equal(nf.code, 127);
  assert.match(nf.stderr, /nope/);
  assert.equal(await qemus(), 1);

  const doc = JSON.parse(await ok(['inspect', 'counter']))[0];
  assert.equal(doc.Id, id);
  assert.equal(doc.Name, '/counter');
  assert.equal(doc.State.Running, true);
  assert.equal(doc.HostConfig.Isolation, 'vm');
  assert.ok(doc.State.Pid > 0);
  assert.ok(['tcg', 'kvm'].includes(doc.Nestbox.Accelerator));
  // QEMU is confined: seccomp on, chrooted into the container's directory, not root
  const status = readFileSync(`/proc/${doc.State.Pid}/status`, 'utf8');
  assert.match(status, /^Seccomp:\s+2$/m);
  assert.doesNotMatch(status, /^Uid:\s+0\s/m);
  assert.equal(readlinkSync(`/proc/${doc.State.Pid}/root`), doc.Nestbox.StateDir);
  assert.equal(statSync(path.join(doc.Nestbox.StateDir, 'config.json')).mode & 0o077, 0, 'config (env) is private');

  // follow: a second CLI streams new lines until the container stops
  const follower = spawn(NESTBOX, ['--root', root.dir, 'logs', '-f', '--tail', '0', 'counter']);
  let followed = '';
  follower.stdout.on('data', (d: Buffer) => (followed += d.toString()));
  const followerDone = new Promise((r) => follower.on('close', r));
  while (!/line\d+\n/.test(followed)) await sleep(100);

  // stop: SIGTERM reaches the trap, exit code 3
  await ok(['stop', '-t', '20', 'counter']);
  await followerDone;
  assert.match(followed, /line\d+\n/);
  assert.match(followed, /bye\n$/);
  const stopped = JSON.parse(await ok(['inspect', 'counter']))[0];
  assert.equal(stopped.State.Status, 'exited');
  assert.equal(stopped.State.ExitCode, 3);
  assert.equal(await ok(['wait', 'counter']), '3\n');
  assert.match(await ok(['ps', '-a']), /Exited \(3\)/);
  assert.equal((await ok(['ps', '-q'])).trim(), '');

  // restart keeps the writable layer and the log
  await ok(['start', 'counter']);
  assert.equal(await ok(['exec', 'counter', 'cat', '/root/kept']), 'kept\n');
  // the new run's first line reaches the log file asynchronously (guest agent → virtio-serial → QEMU)
  let after = '';
  for (let i = 0; i < 100 && !/bye\nline0\n/.test(after); i++) {
    if (i) await sleep(200);
    after = await ok(['logs', 'counter']);
  }
  assert.match(after, /bye\nline0\n/);

  await ok(['rm', '-f', 'counter']);
  assert.equal(existsSync(path.join(root.dir, 'containers', id)), false, 'rm leaves no directory');
  assert.deepEqual(await processesMatching(id), [], 'rm leaves no process');
});

test('stop escalates to SIGKILL after the grace period; kill -s sends a signal', async () => {
  await ok(['run', '-d', '--name', 'stubborn', 'busybox', 'sh', '-c', 'trap "" TERM USR1; echo trapped; while true; do sleep 1; done']);
  // run -d returns once sh runs, maybe before it set its trap: a TERM then would simply end it
  for (let i = 0; i < 100 && !(await ok(['logs', 'stubborn'])).includes('trapped'); i++) await sleep(100);
  const t0 = Date.now();
  await ok(['stop', '-t', '1', 'stubborn']);
  assert.ok(Date.now() - t0 < 15_000);
  assert.equal(await ok(['wait', 'stubborn']), '137\n');
  await ok(['start', 'stubborn']);
  for (let i = 0; i < 100 && (await ok(['logs', 'stubborn'])).split('trapped').length < 3; i++) await sleep(100);
  await ok(['kill', '-s', 'USR1', 'stubborn']);
  await sleep(500);
  assert.equal(JSON.parse(await ok(['inspect', 'stubborn']))[0].State.Running, true, 'an ignored signal leaves it running');
  await ok(['kill', 'stubborn']);
  assert.equal(await ok(['wait', 'stubborn']), '137\n');
  const bad = await root.nb(['kill', '-s', 'NOPE', 'stubborn']);
  assert.equal(bad.code, 125);
  assert.match(bad.stderr, /invalid signal "NOPE"/);
  await ok(['rm', 'stubborn']);
});

test('rm refuses a running container without -f; rm -f kills the VM and leaves nothing', async () => {
  const id = (await ok(['run', '-d', 'busybox', 'sleep', '1000'])).trim();
  const refused = await root.nb(['rm', id]);
  assert.equal(refused.code, 1);
  assert.match(refused.stderr, /stop it first or use rm -f/);
  const dir = path.join(root.dir, 'containers', id);
  assert.ok(readdirSync(dir).includes('rw.ext4'));
  await ok(['rm', '-f', id.slice(0, 12)]);
  assert.equal(existsSync(dir), false);
  assert.deepEqual(await processesMatching(id), []);
});

test('logs and exit status survive the CLI being SIGKILLed; ps tells the truth when QEMU dies', async () => {
  const cli = spawn(NESTBOX, ['--root', root.dir, 'run', '--name', 'orphan', 'busybox', 'sh', '-c', 'echo started; sleep 4; echo finished; exit 4']);
  let seen = '';
  cli.stdout.on('data', (d: Buffer) => (seen += d.toString()));
  while (!seen.includes('started')) await sleep(100);
  cli.kill('SIGKILL');
  assert.equal(await ok(['wait', 'orphan']), '4\n');
  assert.equal(await ok(['logs', 'orphan']), 'started\nfinished\n');

  await ok(['run', '-d', '--name', 'victim', 'busybox', 'sleep', '1000']);
  const pid = JSON.parse(await ok(['inspect', 'victim']))[0].State.Pid as number;
  process.kill(pid, 'SIGKILL');
  await sleep(300);
  const doc = JSON.parse(await ok(['inspect', 'victim']))[0];
  assert.equal(doc.State.Status, 'exited');
  assert.match(doc.State.Error, /QEMU \(pid \d+\) exited unexpectedly/);
  assert.match(await ok(['ps', '-a']), /victim/);
  await ok(['rm', 'victim', 'orphan']);
});

test('Ctrl-C while the VM boots stops its QEMU instead of orphaning it', async () => {
  const cli = spawn(NESTBOX, ['--root', root.dir, 'run', '--no-template', '--name', 'interrupted', 'busybox', 'echo', 'never']);
  await sleep(1500);
  cli.kill('SIGINT');
  const code = await new Promise((r) => cli.on('close', r));
  assert.equal(code, 125);
  const doc = JSON.parse(await ok(['inspect', 'interrupted']))[0];
  assert.equal(doc.State.Status, 'exited');
  assert.deepEqual((await processesMatching(doc.Id)).filter((p) => p.includes('qemu-system')), []);
  await ok(['rm', 'interrupted']);
});

test('rm -f while another CLI is still booting the VM: the start gives up, nothing leaks', async () => {
  const cli = spawn(NESTBOX, ['--root', root.dir, 'run', '--no-template', '--name', 'racing', 'busybox', 'echo', 'never']);
  let err = '';
  cli.stderr.on('data', (d: Buffer) => (err += d.toString()));
  const closed = new Promise((r) => cli.on('close', r));
  await sleep(1500);
  await ok(['rm', '-f', 'racing']);
  assert.equal(await closed, 125, err);
  assert.equal((await root.nb(['inspect', 'racing'])).code, 1);
  assert.deepEqual((await processesMatching(path.join(root.dir, 'containers'))).filter((p) => p.includes('qemu-system')), []);
});

test('two CLIs at once: one name, one winner; state stays readable', async () => {
  const [a, b] = await Promise.all([
    root.nb(['create', '--name', 'dup', 'busybox', 'true']),
    root.nb(['create', '--name', 'dup', 'busybox', 'true']),
  ]);
  assert.deepEqual([a.code, b.code].sort(), [0, 125]);
  assert.match((a.code ? a : b).stderr, /already in use/);
  const all = (await ok(['ps', '-a', '--format', 'json'])).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(all.filter((c) => c.Names === 'dup').length, 1);
  await ok(['rm', 'dup']);
});

test('-t gives a real pty with the window size', async () => {
  const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn('script', ['-qec', `stty rows 33 cols 101; ${NESTBOX} --root ${root.dir} run -it --rm busybox sh -c 'tty; stty size'`, '/dev/null']);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
  assert.equal(r.code, 0, r.out);
  assert.match(r.out, /\/dev\/pts\/\d+/);
  assert.match(r.out, /33 101/);
});
