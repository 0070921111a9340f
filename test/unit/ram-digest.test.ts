import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { PAGE, RamDigester, digestRamFile } from '../../src/core/ram-digest.js';

// The RAM digest as docs/checkpoints.md defines it, computed the plain way: sha256 over every
// non-zero page in order, each preceded by its page number as a big-endian u64.
function reference(data: Buffer): string {
  const h = createHash('sha256');
  for (let o = 0; o < data.length; o += PAGE) {
    const page = Buffer.alloc(PAGE);
    data.copy(page, 0, o, Math.min(o + PAGE, data.length));
    if (page.equals(Buffer.alloc(PAGE))) continue;
    const idx = Buffer.alloc(8);
    idx.writeBigUInt64BE(BigInt(o / PAGE));
    h.update(idx).update(page);
  }
  return h.digest('hex');
}

test('RAM digests of files and of page streams match the definition', async () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'nestbox-ramdigest-'));
  try {
    // 9 MiB + 3 pages: zero runs longer and shorter than the 64 KiB skip, lone non-zero pages
    // inside zero blocks, a last read shorter than the 4 MiB chunk
    const pages = 9 * 256 + 3;
    const data = Buffer.alloc(pages * PAGE);
    const marked = [0, 1, 17, 300, 301, 1023, 1024, 1025, 2047, 2048, 2300, pages - 1];
    for (const p of marked) data.fill((p % 251) + 1, p * PAGE + 100, p * PAGE + 200);
    data[5 * PAGE + PAGE - 1] = 7; // the last byte of a page
    const file = path.join(dir, 'ram');
    writeFileSync(file, data);
    const want = reference(data);
    assert.deepEqual(await digestRamFile(file), { bytes: data.length, sha256: want });

    const d = new RamDigester();
    for (let p = 0; p < pages; p++) d.page(p, p % 3 ? data.subarray(p * PAGE, (p + 1) * PAGE) : (data.subarray(p * PAGE, (p + 1) * PAGE).some((b) => b) ? data.subarray(p * PAGE, (p + 1) * PAGE) : undefined));
    assert.ok(d.ok);
    assert.deepEqual(d.digest(data.length), { bytes: data.length, sha256: want });

    // a tail shorter than a page counts as a page padded with zeros
    const odd = Buffer.concat([data.subarray(0, 3 * PAGE), Buffer.from([1, 2, 3])]);
    writeFileSync(file, odd);
    assert.deepEqual(await digestRamFile(file), { bytes: odd.length, sha256: reference(odd) });

    // pages out of order: not ok (the caller hashes the file instead)
    const e = new RamDigester();
    e.page(3, data.subarray(0, PAGE));
    e.page(2, data.subarray(0, PAGE));
    assert.equal(e.ok, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
