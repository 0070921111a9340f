import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { lastLines, readLogs, type LogEntry } from '../../src/core/logs.js';
import { encodeFrame } from '../../src/guest/frame.js';
import { MsgType } from '../../src/guest/protocol.js';
import type { Container } from '../../src/core/container.js';

const out = (text: string, stream: 'stdout' | 'stderr' = 'stdout'): LogEntry => ({ stream, data: Buffer.from(text) });
const logFrame = (text: string) => encodeFrame(MsgType.STDOUT, 0, Buffer.concat([Buffer.alloc(8), Buffer.from(text)]));

test('--tail keeps the last lines across chunks and streams, partial lines included', () => {
  const entries = [out('a\nb'), out('c\nd\n'), out('e1\n', 'stderr'), out('f'), out('g')];
  assert.deepEqual(lastLines(entries, 3).map((e) => e.data.toString()), ['d\n', 'e1\n', 'fg']);
  assert.deepEqual(lastLines(entries, 0), []);
});

test('--tail on a huge line without newlines stays linear', () => {
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  const entries = Array.from({ length: 2000 }, () => ({ stream: 'stdout' as const, data: chunk }));
  const t0 = Date.now();
  const [line] = lastLines(entries, 1);
  assert.equal(line!.data.length, chunk.length * 2000);
  assert.ok(Date.now() - t0 < 2000, 'no quadratic re-concatenation');
});

test('a bad frame in the log: the valid output before it is shown, then a protocol error', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nestbox-logs-'));
  writeFileSync(path.join(dir, 'log'), Buffer.concat([logFrame('before\n'), Buffer.from('\x09\x09garbage')]));
  const c = { dir, config: {}, state: { status: 'exited', restartCount: 0 } } as unknown as Container;
  const seen: string[] = [];
  await assert.rejects(async () => {
    for await (const e of readLogs(c)) seen.push(e.data.toString());
  }, /bad frame from guest at byte \d+: version 9/);
  assert.deepEqual(seen, ['before\n']);
  rmSync(dir, { recursive: true });
});
