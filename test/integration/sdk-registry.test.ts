import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Nestbox, NestboxError } from '../../src/index.js';
import { TestRoot } from '../helpers/cli.js';
import { startServe, stopServe } from '../helpers/serve.js';
import { BUSYBOX_OCI, ociArchiveManifestDigest, pushImage, startRegistry, type Registry } from '../helpers/registry.js';

// The SDK pulls (explicitly, and implicitly on create) from a real registry with htpasswd auth,
// in-process and through `nestbox serve`, with per-call credentials that are never stored.
const creds = { username: 'carol', password: 'pa55word' };
const roots = { local: new TestRoot(), remote: new TestRoot() };
const sock = path.join(roots.remote.dir, 'd.sock');
let server: ChildProcess | undefined;
let reg: Registry;
let digest: string;

before(async () => {
  reg = await startRegistry({ auth: { htpasswd: { user: creds.username, password: creds.password } } });
  await pushImage(reg.host, BUSYBOX_OCI, 'sdk/bb:1', { user: creds.username, password: creds.password });
  digest = await ociArchiveManifestDigest(BUSYBOX_OCI);
  server = (await startServe(roots.remote.dir, sock)).child;
});
after(async () => {
  if (server) await stopServe(server);
  await reg.stop();
  await roots.local.dispose();
  await roots.remote.dispose();
});

const modes: Array<[string, () => Nestbox]> = [
  ['local', () => Nestbox.local({ root: roots.local.dir })],
  ['remote', () => Nestbox.connect({ socketPath: sock })],
];

for (const [mode, make] of modes) {
  describe(`SDK pull (${mode})`, () => {
    test('without credentials a clear error; with them pull, then create uses the pulled image', async () => {
      await using nb = make();
      const image = `${reg.host}/sdk/bb:1`;
      const refused = await nb.pull(image).then(() => undefined, (e: unknown) => e);
      assert.ok(refused instanceof NestboxError, String(refused));
      assert.match((refused as Error).message, /credentials|login/);
      const pulled = await nb.pull(image, { credentials: creds });
      assert.equal(pulled.digest, digest);
      await using sb = await nb.create({ image, isolation: 'process', pull: 'never' });
      assert.equal((await sb.run(['echo', 'pulled by the sdk'])).stdout, 'pulled by the sdk\n');
    });

    test('create pulls a missing image with the credentials it is given', async () => {
      await using nb = make();
      await using sb = await nb.create({ image: `${reg.host}/sdk/bb@${digest}`, isolation: 'process', credentials: creds });
      assert.equal((await sb.run(['true'])).exitCode, 0);
    });
  });
}
