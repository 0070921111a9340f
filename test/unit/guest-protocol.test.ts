import { test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { FrameDecoder, encodeFrame } from '../../src/guest/frame.js';
import { FieldWriter, Fields } from '../../src/guest/fields.js';
import { decodeGuestFrame, encode } from '../../src/guest/messages.js';
import { MsgType, Tag, MAX_PAYLOAD } from '../../src/guest/protocol.js';
import { GuestProtocolError } from '../../src/core/errors.js';

const exitFrame = (code: number, signal?: number) =>
  encodeFrame(MsgType.EXIT, 0, new FieldWriter().u32(Tag.CODE, code).u32(Tag.SIGNAL, signal).build());

test('frames split at every byte boundary decode to the same messages', () => {
  const stream = Buffer.concat([
    encodeFrame(MsgType.STDOUT, 3, Buffer.from('hello')),
    exitFrame(137, 9),
    encodeFrame(MsgType.READY, 0, new FieldWriter().str(Tag.AGENT, '0.1').build()),
  ]);
  for (let cut = 0; cut <= stream.length; cut++) {
    const d = new FrameDecoder();
    const frames = [...d.push(stream.subarray(0, cut)), ...d.push(stream.subarray(cut))];
    const events = frames.map((f) => decodeGuestFrame(f));
    assert.deepEqual(events.map((e) => e.kind), ['output', 'exit', 'ready']);
    assert.deepEqual(events[1], { kind: 'exit', session: 0, code: 137, signal: 9 });
  }
});

test('bad version, unknown type and oversized length are rejected with the byte offset', () => {
  const good = encodeFrame(MsgType.STDOUT, 0, Buffer.from('x'));
  const badVersion = Buffer.from(encodeFrame(MsgType.STDOUT, 0));
  badVersion[0] = 9;
  const unknown = Buffer.from(encodeFrame(MsgType.STDOUT, 0));
  unknown[1] = 0x7f;
  const huge = Buffer.from(encodeFrame(MsgType.STDOUT, 0));
  huge.writeUInt32LE(MAX_PAYLOAD + 1, 4);
  for (const [bad, why] of [[badVersion, /version 9/], [unknown, /unknown type 0x7f/], [huge, /over the 65536-byte limit/]] as const) {
    const d = new FrameDecoder();
    assert.equal(d.push(Buffer.concat([good, bad])).length, 1, 'the good frame before the bad one is kept');
    assert.ok(d.error && why.test(d.error.message) && /at byte 9/.test(d.error.message), d.error?.message);
    assert.throws(() => d.push(good), GuestProtocolError, 'a broken stream stays broken');
    const alone = new FrameDecoder();
    assert.throws(() => alone.push(bad), (e: Error) => e instanceof GuestProtocolError && /at byte 0/.test(e.message));
  }
});

test('structured fields: overruns, bad sizes and out-of-range values are errors, unknown tags ignored', () => {
  const withUnknown = Buffer.concat([new FieldWriter().u32(Tag.CODE, 3).build(), Buffer.from([200, 1, 0, 0, 0, 7])]);
  assert.equal(Fields.parse(withUnknown).i32(Tag.CODE), 3);
  assert.throws(() => Fields.parse(Buffer.from([Tag.CODE, 9, 0, 0, 0, 1])), /overruns/);
  assert.throws(() => Fields.parse(Buffer.from([Tag.CODE, 0])), /truncated/);
  const short = encodeFrame(MsgType.EXIT, 0, Buffer.from([Tag.CODE, 2, 0, 0, 0, 1, 2]));
  assert.throws(() => decodeGuestFrame(new FrameDecoder().push(short)[0]!), /expected 4 bytes/);
  assert.throws(() => decodeGuestFrame(new FrameDecoder().push(exitFrame(300))[0]!), /invalid code 300/);
  assert.throws(() => decodeGuestFrame(new FrameDecoder().push(exitFrame(1, 99))[0]!), /invalid signal 99/);
  const longString = encodeFrame(MsgType.ERROR, 0, new FieldWriter().u32(Tag.CODE, 127).str(Tag.MESSAGE, 'x'.repeat(5000)).build());
  assert.throws(() => decodeGuestFrame(new FrameDecoder().push(longString)[0]!), /over the 4096-byte limit/);
  assert.throws(() => decodeGuestFrame(new FrameDecoder().push(encode.hello())[0]!), /host-only/);
});

test('fuzz: random garbage never crashes the decoder, only GuestProtocolError', () => {
  for (let i = 0; i < 3000; i++) {
    const garbage = randomBytes(1 + (i % 300));
    if (i % 3 === 0) garbage[0] = 1; // valid version to reach deeper checks
    if (i % 6 === 0) garbage[1] = [0x81, 0x82, 0x83, 0x85, 0x86, 0x87][i % 6]!;
    const d = new FrameDecoder();
    try {
      for (const f of d.push(garbage)) decodeGuestFrame(f, i % 2 === 0);
    } catch (err) {
      assert.ok(err instanceof GuestProtocolError, `unexpected ${(err as Error).stack}`);
    }
  }
});

test('host messages encode as the doc says: RUN carries args, env and the clock', () => {
  const run = encode.run({ args: ['echo', 'hi'], env: ['A=1'], cwd: '/', tty: false, stdin: true, hostname: 'h', readOnly: false }, 42n);
  assert.equal(run[0], 1);
  assert.equal(run[1], MsgType.RUN);
  assert.equal(run.readUInt32LE(4), run.length - 8);
  const f = Fields.parse(run.subarray(8));
  assert.equal(f.str(Tag.ARG), 'echo');
  assert.equal(f.u32(Tag.STDIN), 1);
  assert.equal(f.str(Tag.HOSTNAME), 'h');
});

test('PREPARE carries RUN\'s identity and network, plus the warm-up process; PREPARED carries its exit code', () => {
  const without = encode.prepare({ hostname: 'h', readOnly: false, machineId: 'a'.repeat(32), net: ['dns\t10.0.0.1'] }, 42n);
  assert.equal(without[1], MsgType.PREPARE);
  const f = Fields.parse(without.subarray(8));
  assert.equal(f.str(Tag.HOSTNAME), 'h');
  assert.equal(f.str(Tag.MACHINE_ID), 'a'.repeat(32));
  assert.equal(f.str(Tag.NET), 'dns\t10.0.0.1');
  assert.equal(f.u32(Tag.READONLY), 0);
  assert.equal(f.str(Tag.ARG), undefined, 'no warm-up: no ARG');
  const withWarmup = Fields.parse(encode.prepare({ hostname: 'h', readOnly: false, warmup: { args: ['true'], env: ['PATH=/bin'], cwd: '/', tty: false, stdin: false } }).subarray(8));
  assert.equal(withWarmup.str(Tag.ARG), 'true');
  const prepared = (code?: number) => new FrameDecoder().push(encodeFrame(MsgType.PREPARED, 0, new FieldWriter().u32(Tag.CODE, code).build()))[0]!;
  assert.deepEqual(decodeGuestFrame(prepared(0)), { kind: 'prepared', session: 0, code: 0 });
  assert.deepEqual(decodeGuestFrame(prepared()), { kind: 'prepared', session: 0 });
  assert.throws(() => decodeGuestFrame(prepared(300)), /invalid code 300/);
});
