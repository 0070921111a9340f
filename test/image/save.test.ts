import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { defaultImageTar, listDir, storeFixture } from './helpers.js';

const fx = storeFixture();

describe('save', () => {
  it('an abort at any point leaves either nothing or a complete archive', async () => {
    const { store } = fx.freshStore();
    const [image] = await store.load(await defaultImageTar());
    for (const format of ['docker-archive', 'oci-archive'] as const) {
      const outcomes = new Set<boolean>();
      for (const delayMs of [0, 1, 3, 10, 30, 100, 1000]) {
        const dir = path.join(fx.root, `abort-${format}-${delayMs}`);
        await fs.mkdir(dir);
        const file = path.join(dir, 'out.tar');
        const abort = new AbortController();
        const timer = setTimeout(() => abort.abort(), delayMs);
        const saved = await store.save(['busybox'], file, { format, signal: abort.signal }).then(() => true, (err: Error) => {
          assert.equal(err.name, 'AbortError', String(err));
          return false;
        });
        clearTimeout(timer);
        outcomes.add(saved);
        if (!saved) {
          assert.deepEqual(await listDir(dir), [], `${format} aborted after ${delayMs} ms: nothing left`);
          continue;
        }
        assert.deepEqual(await listDir(dir), ['out.tar']);
        const [again] = await fx.freshStore().store.load(file);
        assert.equal(again!.id, image!.id, `${format} completed before the abort (${delayMs} ms) is whole`);
      }
      assert.equal(outcomes.size, 2, `${format}: some saves were aborted, some completed`);
    }
  });
});
