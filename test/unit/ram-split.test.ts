import { test, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { RamSplitter } from '../../src/vm/qemu/ram-split.js';
import { digestRamFile } from '../../src/core/ram-digest.js';

// The migration stream splitter (src/vm/qemu/ram-split.ts) on streams built here in QEMU 7.2's
// format: the guest RAM block's pages go to the RAM file, everything else to the state file as it
// was (other blocks' pages naming their block), and anything unexpected is refused.
const dir = mkdtempSync(path.join(tmpdir(), 'nestbox-ram-split-'));
after(() => rmSync(dir, { recursive: true, force: true }));

const PAGE = 4096;
const RAM = 16 * PAGE;
const u32 = (n: number) => Buffer.from([n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255]);
const u64 = (n: number) => Buffer.concat([u32(Math.floor(n / 2 ** 32)), u32(n % 2 ** 32)]);
const str = (s: string) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s, 'latin1')]);
const page = (fill: number) => Buffer.alloc(PAGE, fill);

const header = Buffer.concat([u32(0x5145564d), u32(3), Buffer.from([7]), u32(7), Buffer.from('microvm')]);
const blockList = Buffer.concat([u64((RAM + PAGE) | 0x04), str('microvm.ram'), u64(RAM), str('pc.bios'), u64(PAGE)]);
const eos = u64(0x10);
const footer = Buffer.concat([Buffer.from([0x7e]), u32(2)]);
const start = Buffer.concat([Buffer.from([1]), u32(2), str('ram'), u32(0), u32(4), blockList, eos, footer]);
const devices = Buffer.concat([Buffer.from([4]), u32(9), str('cpu'), u32(0), u32(17), Buffer.from('device bytes'), footer, Buffer.from([0])]);

function part(type: 2 | 3, records: Buffer[]): Buffer {
  return Buffer.concat([Buffer.from([type]), u32(2), ...records, eos, footer]);
}

async function split(stream: Buffer, chunk = 1000) {
  const base = path.join(dir, `s${Math.random().toString(16).slice(2)}`);
  const s = new RamSplitter(`${base}.state`, `${base}.ram`, RAM);
  try {
    for (let o = 0; o < stream.length; o += chunk) s.push(stream.subarray(o, o + chunk));
    return { ...(await s.end()), state: readFileSync(`${base}.state`), ram: readFileSync(`${base}.ram`), ramFile: `${base}.ram` };
  } finally {
    s.close();
  }
}

test('pages of the guest RAM block go to the RAM file; the rest of the stream is kept', async () => {
  const records = [
    Buffer.concat([u64(0 | 0x08), str('microvm.ram'), page(1)]),
    Buffer.concat([u64(PAGE | 0x28), page(2)]), // continue: same block
    Buffer.concat([u64(2 * PAGE | 0x22), Buffer.from([0])]), // a zero page: a hole
    Buffer.concat([u64(0 | 0x08), str('pc.bios'), page(9)]), // firmware: kept
    Buffer.concat([u64(5 * PAGE | 0x08), str('microvm.ram'), page(5)]),
  ];
  const kept = Buffer.concat([u64(0 | 0x08), str('pc.bios'), page(9)]);
  for (const chunk of [1, 7, 1000, 65536]) {
    const r = await split(Buffer.concat([header, start, part(2, records.slice(0, 3)), part(3, records.slice(3)), devices]), chunk);
    assert.equal(r.ramBlock, 'microvm.ram');
    assert.equal(r.pages, 3);
    assert.deepEqual(r.state, Buffer.concat([header, start, part(2, []), part(3, [kept]), devices]), `state, chunks of ${chunk}`);
    assert.equal(r.ram.length, RAM);
    assert.deepEqual(r.ram.subarray(0, 2 * PAGE), Buffer.concat([page(1), page(2)]));
    assert.deepEqual(r.ram.subarray(2 * PAGE, 5 * PAGE), Buffer.alloc(3 * PAGE));
    assert.deepEqual(r.ram.subarray(5 * PAGE, 6 * PAGE), page(5));
    assert.ok(statSync(r.ramFile).blocks * 512 < RAM, 'the RAM file is sparse');
    assert.deepEqual(r.ramDigest, await digestRamFile(r.ramFile), 'the digest made while writing is the one read back');
  }
});

test('a page sent again (out of order) still gives the file and its digest', async () => {
  const records = [Buffer.concat([u64(3 * PAGE | 0x08), str('microvm.ram'), page(3)]), Buffer.concat([u64(3 * PAGE | 0x22), Buffer.from([0])]), Buffer.concat([u64(PAGE | 0x28), page(7)])];
  const r = await split(Buffer.concat([header, start, part(3, records), devices]));
  assert.deepEqual(r.ram.subarray(3 * PAGE, 4 * PAGE), Buffer.alloc(PAGE), 'a zero record clears a page written before');
  assert.deepEqual(r.ram.subarray(PAGE, 2 * PAGE), page(7));
  assert.deepEqual(r.ramDigest, await digestRamFile(r.ramFile));
});

test('what this splitter does not know is refused, not guessed at', async () => {
  const cases: Array<[string, Buffer, RegExp]> = [
    ['compressed pages', Buffer.concat([header, start, part(3, [Buffer.concat([u64(0 | 0x100), str('microvm.ram')])]), devices]), /RAM record flags 0x100/],
    ['a page beyond its block', Buffer.concat([header, start, part(3, [Buffer.concat([u64(RAM | 0x08), str('microvm.ram'), page(1)])]), devices]), /beyond RAM block/],
    ['an unknown block', Buffer.concat([header, start, part(3, [Buffer.concat([u64(0 | 0x08), str('nope'), page(1)])]), devices]), /unknown RAM block nope/],
    ['another iterative section', Buffer.concat([header, Buffer.from([1]), u32(3), str('block'), u32(0), u32(1), eos]), /iterative section block/],
    ['no guest RAM of its size', Buffer.concat([header, Buffer.from([1]), u32(2), str('ram'), u32(0), u32(4), u64(PAGE | 0x04), str('pc.bios'), u64(PAGE), eos]), /no guest RAM block/],
    ['not a migration stream', Buffer.from('not a QEMU stream at all'), /not a QEMU migration stream/],
    ['a stream cut short', Buffer.concat([header, start, part(2, [])]).subarray(0, -3), /it ended/],
  ];
  for (const [what, stream, why] of cases) await assert.rejects(split(stream), why, what);
});
