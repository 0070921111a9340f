import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { exitedState, readMainOutcome } from '../../src/core/reconcile.js';
import { encodeFrame } from '../../src/guest/frame.js';
import { FieldWriter } from '../../src/guest/fields.js';
import { MsgType, Tag } from '../../src/guest/protocol.js';

const dirWith = (events: Buffer) => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nestbox-reconcile-'));
  writeFileSync(path.join(dir, 'events'), events);
  return dir;
};
const prev = { status: 'running' as const, pid: 4242, restartCount: 0 };

test('the exit status the guest recorded becomes the container state', async () => {
  const dir = dirWith(Buffer.concat([
    encodeFrame(MsgType.READY, 0, new FieldWriter().str(Tag.AGENT, 'x').build()),
    encodeFrame(MsgType.STARTED, 0, new FieldWriter().u32(Tag.PID, 7).build()),
    encodeFrame(MsgType.EXIT, 0, new FieldWriter().u32(Tag.CODE, 143).u32(Tag.SIGNAL, 15).build()),
  ]));
  const outcome = await readMainOutcome(dir);
  assert.deepEqual(outcome, { ready: true, guestPid: 7, exit: { code: 143, signal: 15 } });
  const st = await exitedState(dir, prev, 'QEMU');
  assert.equal(st.status, 'exited');
  assert.equal(st.exitCode, 143);
  rmSync(dir, { recursive: true });
});

test('a hostile events file fails the sandbox with the offset, never the host', async () => {
  const good = encodeFrame(MsgType.READY, 0);
  for (const garbage of [Buffer.from('\x01\x85\x00\x00\xff\xff\xff\xff'), Buffer.from('not frames at all'), Buffer.alloc(100, 0xff)]) {
    const dir = dirWith(Buffer.concat([good, garbage]));
    const st = await exitedState(dir, prev, 'QEMU');
    assert.equal(st.status, 'exited');
    assert.equal(st.exitCode, 255);
    assert.match(st.error!, /sandbox failed: bad frame from guest at byte 8/);
    rmSync(dir, { recursive: true });
  }
});

test('a monitor that died without an exit record is reported as such', async () => {
  const dir = dirWith(encodeFrame(MsgType.READY, 0));
  writeFileSync(path.join(dir, 'qemu.err'), 'qemu-system-x86_64: terminating on signal 9\n');
  const st = await exitedState(dir, prev, 'QEMU');
  assert.match(st.error!, /^QEMU \(pid 4242\) exited unexpectedly .*: qemu-system-x86_64: terminating on signal 9$/);
  rmSync(dir, { recursive: true });
});
