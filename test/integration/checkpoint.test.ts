import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync, readdirSync, readFileSync, statSync, writeFileSync, writeSync } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { COUNTER, NESTBOX, TestRoot, processesMatching, waitUntil } from '../helpers/cli.js';

// Checkpoints (docs/checkpoints.md): full and disk-only, restore into a new container, export /
// import, and what a corrupted, foreign or interrupted checkpoint does.
const root = new TestRoot();
after(() => root.dispose());

const ok = (args: string[]) => root.ok(args);
const lastCount = (name: string) => root.lastCount(name);
const state = (name: string) => root.inspect(name);
const cpDir = path.join(root.dir, 'checkpoints');

/** Offset of the data of entry `name` in a tar (GNU: 512-byte headers; a sparse entry's map is in its header). */
function tarEntryData(tar: Buffer, name: string): number {
  for (let o = 0; o + 512 <= tar.length; ) {
    const entry = tar.toString('latin1', o, o + 100).replace(/\0.*$/s, '');
    const size = parseInt(tar.toString('latin1', o + 124, o + 136).replace(/\0.*$/s, '').trim() || '0', 8);
    if (!entry) break;
    if (entry === name) return o + 512;
    o += 512 + Math.ceil(size / 512) * 512;
  }
  throw new Error(`no ${name} in the tar`);
}

test('a full checkpoint restores into a new container whose counter keeps counting and whose logs continue', async () => {
  await ok(['run', '-d', '--name', 'src', 'busybox', ...COUNTER]);
  await ok(['exec', 'src', 'sh', '-c', 'echo kept > /state.txt']);
  await sleep(1000);
  assert.equal(await ok(['checkpoint', 'create', '--leave-running', 'src', 'cp1']), 'cp1\n');
  const atCheckpoint = await lastCount('src');
  assert.match(await ok(['checkpoint', 'ls']), /cp1\s+src\s+full\s+busybox/);
  const id = (await ok(['restore', 'cp1', '--name', 'dst'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  const dst = await state('dst');
  assert.notEqual(dst.Id, (await state('src')).Id);
  assert.equal(dst.State.Status, 'running');
  await sleep(1500);
  const restoredLog = (await ok(['logs', 'dst'])).trim().split('\n').map(Number);
  assert.equal(restoredLog[0], 0, 'the restored container has the log from before the checkpoint');
  assert.ok(restoredLog.at(-1)! > atCheckpoint - 3 && restoredLog.at(-1)! >= restoredLog.length - 1, 'the counter continued from the checkpoint');
  await root.assertCounting('dst', 'the restored counter keeps counting');
  assert.ok((await lastCount('src')) > atCheckpoint, 'the source keeps running with --leave-running');
  assert.equal(await ok(['exec', 'dst', 'cat', '/state.txt']), 'kept\n');
  // the same workload continuing: same hostname; the clock is the host's again
  assert.equal(await ok(['exec', 'dst', 'hostname']), await ok(['exec', 'src', 'hostname']));
  // (between the host's clock before and after the exec: a loaded machine makes an exec slow, not wrong)
  const hostBefore = Math.floor(Date.now() / 1000);
  const guestNow = Number((await ok(['exec', 'dst', 'date', '+%s'])).trim());
  const hostAfter = Math.ceil(Date.now() / 1000);
  assert.ok(guestNow >= hostBefore - 1 && guestNow <= hostAfter + 1, `the restored guest clock was set (guest ${guestNow}, host ${hostBefore}..${hostAfter})`);
  // its own writable layer
  await ok(['exec', 'dst', 'sh', '-c', 'echo mine > /state.txt']);
  assert.equal(await ok(['exec', 'src', 'cat', '/state.txt']), 'kept\n');
  await ok(['rm', '-f', 'dst']);
});

test('without --leave-running the source is stopped; a disk-only checkpoint boots a fresh guest on the saved layer', async () => {
  await ok(['run', '-d', '--name', 'stopme', 'busybox', 'sleep', '600']);
  await ok(['exec', 'stopme', 'sh', '-c', 'echo disk > /d.txt']);
  await ok(['checkpoint', 'create', 'stopme', 'cp2']);
  const st = await state('stopme');
  assert.equal(st.State.Status, 'exited');
  assert.deepEqual((await processesMatching(st.Id)).filter((p) => p.includes('qemu-system')), []);
  await ok(['restore', 'cp2', '--name', 'fromfull']);
  assert.equal(await ok(['exec', 'fromfull', 'cat', '/d.txt']), 'disk\n');
  // disk-only of a running container: it is stopped first (the agent syncs and unmounts), so the layer is clean
  await ok(['checkpoint', 'create', '--disk-only', 'fromfull', 'cp3']);
  assert.equal((await state('fromfull')).State.Status, 'exited');
  assert.match(await ok(['checkpoint', 'ls', 'fromfull']), /cp3\s+fromfull\s+disk/);
  await ok(['restore', 'cp3', '--name', 'fromdisk']);
  assert.equal(await ok(['exec', 'fromdisk', 'cat', '/d.txt']), 'disk\n');
  await ok(['rm', '-f', 'fromdisk', 'fromfull', 'stopme']);
  await ok(['checkpoint', 'rm', 'cp2', 'cp3']);
  assert.doesNotMatch(await ok(['checkpoint', 'ls']), /cp2|cp3/);
});

test('export / import round trip; a corrupted tar, a tampered file and a foreign checkpoint are refused by name', async () => {
  const tar = path.join(root.dir, 'cp1.tar');
  await ok(['checkpoint', 'export', 'cp1', '-o', tar]);
  assert.equal(await ok(['checkpoint', 'import', tar, '--name', 'cp1copy']), 'cp1copy\n');
  await ok(['restore', 'cp1copy', '--name', 'imported']);
  assert.equal(await ok(['exec', 'imported', 'cat', '/state.txt']), 'kept\n');
  await ok(['rm', '-f', 'imported']);

  const bad = path.join(root.dir, 'bad.tar');
  const bytes = readFileSync(tar);
  bytes.write('XXXXXXXX', tarEntryData(bytes, 'state') + 1000);
  writeFileSync(bad, bytes);
  let r = await root.nb(['checkpoint', 'import', bad, '--name', 'bad']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /state does not match its sha256 in the manifest \(corrupt\)/);
  // the RAM file's digest covers its pages (a changed byte in the middle of guest memory)
  const ramBytes = readFileSync(tar);
  ramBytes.write('XXXXXXXX', tarEntryData(ramBytes, 'ram') + 3_000_000);
  writeFileSync(bad, ramBytes);
  r = await root.nb(['checkpoint', 'import', bad, '--name', 'bad']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /ram does not match its sha256 in the manifest \(corrupt\)/);
  writeFileSync(bad, 'not a tar at all');
  r = await root.nb(['checkpoint', 'import', bad]);
  assert.match(r.stderr, /not a readable tar file/);
  assert.doesNotMatch(await ok(['checkpoint', 'ls']), /\bbad\b/);

  // a file changed after import: restore checks every hash
  writeFileSync(path.join(cpDir, 'cp1copy', 'events'), 'tampered');
  r = await root.nb(['restore', 'cp1copy']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /checkpoint cp1copy: events is \d+ bytes, the manifest says \d+/);
  // guest memory changed in place (same size): its recorded digest is not believed any more
  const ram = path.join(cpDir, 'cp1', 'ram');
  assert.equal(statSync(ram).mode & 0o777, 0o400, 'the RAM file is read-only once written');
  const fd = openSync(ram, 'r+');
  writeSync(fd, Buffer.from('tampered'), 0, 8, 4096 * 1000);
  closeSync(fd);
  r = await root.nb(['restore', 'cp1']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /checkpoint cp1: ram does not match its sha256 in the manifest \(corrupt\)/);

  // a checkpoint of format 1 (RAM inside the state stream) is refused by name
  await ok(['checkpoint', 'import', tar, '--name', 'old']);
  const oldMf = path.join(cpDir, 'old', 'manifest.json');
  writeFileSync(oldMf, JSON.stringify({ ...JSON.parse(readFileSync(oldMf, 'utf8')), version: 1 }));
  r = await root.nb(['restore', 'old']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /checkpoint old: format version 1 \(its RAM inside the state stream\), made by an older nestbox/);
  await ok(['checkpoint', 'rm', 'old']);

  // saved with another guest kernel (as from another host)
  await ok(['checkpoint', 'import', tar, '--name', 'foreign']);
  const mf = path.join(cpDir, 'foreign', 'manifest.json');
  const m = JSON.parse(readFileSync(mf, 'utf8'));
  m.guest.kernel.sha256 = 'f'.repeat(64);
  writeFileSync(mf, JSON.stringify(m));
  r = await root.nb(['restore', 'foreign']);
  assert.equal(r.code, 125);
  assert.match(r.stderr, /cannot restore checkpoint foreign: it was saved with another guest kernel/);
  m.guest.kernel.sha256 = JSON.parse(readFileSync(path.join(cpDir, 'cp1', 'manifest.json'), 'utf8')).guest.kernel.sha256;
  m.image.chainId = 'sha256:' + '0'.repeat(64);
  writeFileSync(mf, JSON.stringify(m));
  r = await root.nb(['restore', 'foreign']);
  assert.match(r.stderr, /its image busybox has other layers here/);
  await ok(['checkpoint', 'rm', 'cp1copy', 'foreign', 'cp1']);
  assert.equal((await ok(['ps', '-q'])).trim().split('\n').length, 1, 'refused restores leave no container');
});

test('kill -9 of the CLI or of QEMU during a checkpoint: nothing half-written is listed, the source survives, nothing is left behind', async () => {
  // the CLI dies mid-save: the source was stopped by QMP; the next command resumes it and sweeps the temp dir
  const cli = spawn(NESTBOX, ['--root', root.dir, 'checkpoint', 'create', '--leave-running', 'src', 'killed'], { stdio: 'ignore' });
  const writing = () => existsSync(cpDir) && readdirSync(cpDir).some((n) => n.startsWith('.tmp-killed-') && existsSync(path.join(cpDir, n, 'state')));
  await waitUntil(writing, 'the checkpoint never started writing', 20_000, 5);
  cli.kill('SIGKILL');
  await new Promise((r) => cli.once('close', r));
  assert.doesNotMatch(await ok(['checkpoint', 'ls']), /killed/);
  assert.deepEqual(readdirSync(cpDir).filter((n) => n.startsWith('.')), [], 'the sweep removed the temp dir');
  await root.assertCounting('src', 'the source runs again after the sweep');

  // QEMU dies mid-save: the checkpoint fails and is not listed; no QEMU is left
  const victim = (await ok(['run', '-d', '--name', 'victim', 'busybox', ...COUNTER])).trim();
  const pid = (await state('victim')).State.Pid as number;
  const run = root.nb(['checkpoint', 'create', 'victim', 'dies']);
  const until = Date.now() + 20_000;
  while (!(existsSync(cpDir) && readdirSync(cpDir).some((n) => n.startsWith('.tmp-dies-')))) {
    assert.ok(Date.now() < until, 'the checkpoint never started');
    await sleep(2);
  }
  process.kill(pid, 'SIGKILL');
  const r = await run;
  assert.equal(r.code, 125);
  assert.doesNotMatch(await ok(['checkpoint', 'ls']), /dies/);
  assert.deepEqual(readdirSync(cpDir).filter((n) => n.startsWith('.')), []);
  assert.deepEqual((await processesMatching(victim)).filter((p) => p.includes('qemu-system')), []);
  await ok(['rm', '-f', 'victim', 'src']);
});
