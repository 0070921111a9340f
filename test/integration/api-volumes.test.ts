import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { TestRoot } from '../helpers/cli.js';
import { dockerClient, startServe, stopServe } from '../helpers/serve.js';

// The stock docker CLI's -v, --mount, --tmpfs and `docker volume` through `nestbox serve`.
const root = new TestRoot();
const sock = path.join(root.dir, 'docker.sock');
const share = path.join(root.dir, 'share');
let server: Awaited<ReturnType<typeof startServe>>;

const { docker, ok } = dockerClient(sock, path.join(root.dir, '.docker'), () => server.log());

before(async () => {
  mkdirSync(share);
  server = await startServe(root.dir, sock);
});
after(async () => {
  await stopServe(server.child);
  await root.dispose();
});

test('docker volume create/ls/inspect/rm and -v, --mount, --tmpfs on docker run', async () => {
  assert.equal(await ok(['volume', 'create', 'apivol']), 'apivol\n');
  assert.match(await ok(['volume', 'ls']), /local\s+apivol/);
  const inspect = JSON.parse(await ok(['volume', 'inspect', 'apivol']))[0];
  assert.equal(inspect.Name, 'apivol');
  assert.equal(inspect.Driver, 'local');

  const out = await ok([
    'run', '--rm', '--isolation', 'process', '-v', 'apivol:/data', '--mount', `type=bind,source=${share},target=/share`,
    '--tmpfs', '/scratch:size=1m', 'busybox', 'sh', '-c', 'echo api > /data/f; echo bound > /share/f; df -k /scratch | tail -1',
  ]);
  assert.match(out, /tmpfs\s+1024/);
  assert.equal(readFileSync(path.join(share, 'f'), 'utf8'), 'bound\n');
  assert.equal(await ok(['run', '--rm', '--isolation', 'process', '-v', 'apivol:/data:ro', 'busybox', 'cat', '/data/f']), 'api\n');

  const c = (await ok(['create', '--isolation', 'process', '-v', 'apivol:/data', 'busybox', 'true'])).trim();
  const busy = await docker(['volume', 'rm', 'apivol']);
  assert.notEqual(busy.code, 0);
  assert.match(busy.stderr, /in use/);
  await ok(['rm', c]);
  assert.equal(await ok(['volume', 'rm', 'apivol']), 'apivol\n');
  const gone = await docker(['volume', 'inspect', 'apivol']);
  assert.notEqual(gone.code, 0);
  assert.match(gone.stderr, /no such volume/i);
  const bad = await docker(['run', '--rm', '-v', `${path.join(root.dir, 'missing')}:/x`, 'busybox', 'true']);
  assert.notEqual(bad.code, 0);
  assert.match(bad.stderr, /bind source path does not exist/);
});
