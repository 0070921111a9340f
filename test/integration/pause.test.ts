import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';
import { TestRoot, assertCounting, processesMatching } from '../helpers/cli.js';

// pause / unpause: QMP stop / cont of the sandbox's QEMU; every guest CPU stops, memory stays.
const root = new TestRoot();
after(() => root.dispose());

const ok = (args: string[]) => root.ok(args);
const COUNTER = ['sh', '-c', 'trap "exit 3" TERM; i=0; while true; do echo $i; i=$((i+1)); sleep 0.1; done'];
const lines = async (name: string) => (await ok(['logs', name])).trim().split('\n').length;
const state = async (name: string) => (await root.inspect(name)).State;

test('pause stops the guest, unpause resumes it; exec is refused while paused; stop and rm -f work on a paused VM', async () => {
  const [a, b] = await Promise.all([ok(['run', '-d', '--name', 'pa', 'busybox', ...COUNTER]), ok(['run', '-d', '--name', 'pb', 'busybox', ...COUNTER])]);
  await sleep(500);
  assert.equal(await ok(['pause', 'pa']), 'pa\n');
  const st = await state('pa');
  assert.equal(st.Status, 'paused');
  assert.equal(st.Paused, true);
  assert.equal(st.Running, true);
  assert.match(await ok(['ps']), /Up .* \(Paused\) .*pa\n/);

  // the counter does not advance while paused...
  const before = await lines('pa');
  await sleep(1500);
  assert.equal(await lines('pa'), before, 'the counter advanced while the VM was paused');
  const exec = await root.nb(['exec', 'pa', 'true']);
  assert.equal(exec.code, 125);
  assert.match(exec.stderr, /container pa is paused, unpause the container before exec/);
  const again = await root.nb(['pause', 'pa']);
  assert.notEqual(again.code, 0);
  assert.match(again.stderr, /already paused/);

  // ...and advances again after unpause
  assert.equal(await ok(['unpause', 'pa']), 'pa\n');
  assert.equal((await state('pa')).Status, 'running');
  await assertCounting(() => lines('pa'), 'the counter advances after unpause');
  assert.equal(await ok(['exec', 'pa', 'echo', 'hi']), 'hi\n');
  const notPaused = await root.nb(['unpause', 'pa']);
  assert.notEqual(notPaused.code, 0);
  assert.match(notPaused.stderr, /not paused/);

  // stop on a paused VM: resumed so that the guest takes the signal (the trap exits 3)
  await ok(['pause', 'pa']);
  await ok(['stop', '-t', '5', 'pa']);
  const stopped = await state('pa');
  assert.equal(stopped.Status, 'exited');
  assert.equal(stopped.ExitCode, 3);

  // rm -f on a paused VM leaves no process
  await ok(['pause', 'pb']);
  await ok(['rm', '-f', 'pb']);
  assert.deepEqual((await processesMatching(b.trim())).filter((p) => p.includes('qemu-system')), []);
  await ok(['rm', 'pa']);
  assert.deepEqual((await processesMatching(a.trim())).filter((p) => p.includes('qemu-system')), []);
});

test('pause of a process-isolated container says it is not supported', async () => {
  await ok(['run', '-d', '--name', 'pp', '--isolation', 'process', 'busybox', 'sleep', '60']);
  const r = await root.nb(['pause', 'pp']);
  assert.notEqual(r.code, 0);
  assert.match(r.stderr, /pause is not supported for process isolation/);
  assert.equal((await state('pp')).Status, 'running');
  await ok(['rm', '-f', 'pp']);
});
