import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { closeSync, ftruncateSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import type { CheckpointManifest } from '../../src/core/checkpoint-manifest.js';
import { MigrationUpload, RUN_HEADER, ramRuns } from '../../src/core/migration-upload.js';
import { PAGE, digestRamFile } from '../../src/core/ram-digest.js';

// The RAM of a migration crosses the network as runs of non-zero pages (ramRuns on the source,
// receiveRam on the destination); whatever the chunking, the destination's file and its digest
// are the source's.
const dir = mkdtempSync(path.join(tmpdir(), 'nestbox-migration-upload-'));
after(() => rmSync(dir, { recursive: true, force: true }));
const MIB = 16;
const NPAGES = (MIB << 20) / PAGE;

/** A sparse RAM file: scattered pages, runs across the 1 MiB pieces ramRuns reads, explicit zeros, the last page. */
function sourceRam(): { file: string; pages: number } {
  const file = path.join(dir, 'src-ram');
  const fd = openSync(file, 'w');
  ftruncateSync(fd, MIB << 20);
  const written = new Set<number>();
  const put = (first: number, count: number, zero = false) => {
    writeSync(fd, zero ? Buffer.alloc(count * PAGE) : randomBytes(count * PAGE), 0, count * PAGE, first * PAGE);
    for (let p = first; p < first + count; p++) if (!zero) written.add(p);
  };
  put(0, 1);
  put(2, 3);
  put(250, 20); // across the first 1 MiB boundary (page 256)
  put(300, 4, true); // zeros written: not sent
  for (let i = 0; i < 200; i++) put(1000 + i * 7, 1 + (i % 3));
  put(NPAGES - 300, 300); // a run longer than a piece, to the last page
  closeSync(fd);
  return { file, pages: written.size };
}

async function upload(name: string, ram: { bytes: number; sha256: string }): Promise<MigrationUpload> {
  const d = path.join(dir, name);
  rmSync(d, { recursive: true, force: true });
  mkdirSync(d);
  writeFileSync(path.join(d, 'ram'), '');
  return new MigrationUpload('0'.repeat(24), d, { memoryMiB: MIB, files: { ram } } as unknown as CheckpointManifest);
}

/** `buf` in pieces of random sizes (1 byte to 100 KB), as a socket might deliver it. */
async function* chopped(buf: Buffer): AsyncGenerator<Buffer> {
  for (let o = 0; o < buf.length; ) {
    const n = 1 + Math.floor(Math.random() * 100_000);
    yield buf.subarray(o, o + n);
    o += n;
  }
}

test('RAM runs: sent in pieces, received in any chunking, the same file and digest; zeros and holes not sent', async () => {
  const { file, pages } = sourceRam();
  const want = await digestRamFile(file);
  const sent = { bytes: 0 };
  const pieces: Buffer[] = [];
  for await (const p of ramRuns(file, sent)) pieces.push(Buffer.from(p));
  const body = Buffer.concat(pieces);
  assert.equal(sent.bytes, body.length);
  assert.ok(pieces.every((p) => p.length <= (1 << 20) + RUN_HEADER + PAGE), 'pieces of about 1 MiB');
  // only the non-zero pages, each run with its header
  assert.equal((body.length - pages * PAGE) % RUN_HEADER, 0);
  assert.ok(body.length - pages * PAGE < 300 * RUN_HEADER);

  const u = await upload('whole', want);
  assert.equal(await u.receiveRam(chopped(body)), NPAGES);
  const digests = await u.complete();
  assert.deepEqual(digests.ram, want);
  assert.ok(readFileSync(path.join(u.dir, 'ram')).equals(readFileSync(file)), 'the same bytes');
  // the pages sent are all that was written: the rest are holes
  assert.ok(statSync(path.join(u.dir, 'ram')).blocks * 512 < (pages + 64) * PAGE);
});

test('RAM in two requests, each ascending from where the last stopped; a wrong digest is refused at completion', async () => {
  const { file } = sourceRam();
  const pieces: Buffer[] = [];
  for await (const p of ramRuns(file, { bytes: 0 })) pieces.push(Buffer.from(p));
  const u = await upload('halves', { bytes: MIB << 20, sha256: '0'.repeat(64) });
  const half = Math.floor(pieces.length / 2);
  await u.receiveRam(chopped(Buffer.concat(pieces.slice(0, half))));
  await u.receiveRam(chopped(Buffer.concat(pieces.slice(half))));
  await assert.rejects(u.complete(), /ram does not match its sha256 in the manifest/);
});

test('an upload dropped while its RAM arrives writes nothing more', async () => {
  const u = await upload('dropped', { bytes: MIB << 20, sha256: '0'.repeat(64) });
  const page = Buffer.alloc(PAGE, 7);
  const header = Buffer.alloc(RUN_HEADER);
  header.writeUInt32BE(10, 0);
  header.writeUInt32BE(2, 4);
  let release!: () => void;
  const gate = new Promise<void>((r) => (release = r));
  async function* body(): AsyncGenerator<Buffer> {
    yield Buffer.concat([header, page]);
    await gate;
    yield page;
  }
  const receiving = u.receiveRam(body());
  await new Promise((r) => setTimeout(r, 50));
  u.close();
  release();
  await assert.rejects(receiving, /was dropped while its RAM arrived/);
  assert.equal(statSync(path.join(u.dir, 'ram')).size, 11 * PAGE, 'only the page that came before the drop');
});
