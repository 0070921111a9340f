import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { runCommand, TestRoot } from '../helpers/cli.js';
import { dockerClient, startServe, stopServe } from '../helpers/serve.js';

// The stock docker CLI's `docker network …`, `--network`, `--network-alias`, `--ip`, `-p` and
// `docker port` through `nestbox serve` (process isolation: no VM boot needed for the API shape).
const root = new TestRoot();
const sock = path.join(root.dir, 'docker.sock');
const PORT = 41000 + Math.floor(Math.random() * 9000);
let server: Awaited<ReturnType<typeof startServe>>;

const { docker, ok } = dockerClient(sock, path.join(root.dir, '.docker'), () => server.log());

before(async () => {
  server = await startServe(root.dir, sock);
});
after(async () => {
  await docker(['rm', '-f', 'apiweb', 'apicli']);
  await docker(['network', 'rm', 'apinet']);
  await stopServe(server.child);
  await root.dispose();
});

test('docker network create/ls/inspect/connect/rm, docker run --network -p, docker port', async () => {
  const id = (await ok(['network', 'create', '--subnet', '10.89.240.0/24', 'apinet'])).trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.match(await ok(['network', 'ls']), /apinet\s+bridge\s+local/);
  await ok(['run', '-d', '--name', 'apiweb', '--isolation', 'process', '--network', 'apinet', '--network-alias', 'www', '--ip', '10.89.240.9', '-p', `127.0.0.1:${PORT}:80`,
    'busybox', 'sh', '-c', 'mkdir -p /w && echo api-web > /w/index.html && httpd -f -p 80 -h /w']);
  assert.equal((await ok(['port', 'apiweb'])).trim(), `80/tcp -> 127.0.0.1:${PORT}`);
  const doc = JSON.parse(await ok(['inspect', 'apiweb']))[0];
  assert.equal(doc.NetworkSettings.Networks.apinet.IPAddress, '10.89.240.9');
  assert.equal(doc.HostConfig.NetworkMode, 'apinet');
  assert.deepEqual(doc.NetworkSettings.Ports['80/tcp'], [{ HostIp: '127.0.0.1', HostPort: String(PORT) }]);
  let page = '';
  for (let i = 0; i < 20 && !page; i++) {
    page = (await runCommand('curl', ['-s', '-m', '3', `http://127.0.0.1:${PORT}/`])).stdout;
    if (!page) await new Promise((r) => setTimeout(r, 250));
  }
  assert.equal(page, 'api-web\n');
  // a second container (on the default network), connected afterwards, reaches the first over
  // apinet (names resolve through the first network's DNS: the address here)
  await ok(['create', '--name', 'apicli', '--isolation', 'process', 'busybox', 'sh', '-c', 'printf "GET / HTTP/1.0\\r\\n\\r\\n" | nc -w3 10.89.240.9 80']);
  await ok(['network', 'connect', 'apinet', 'apicli']);
  const net = JSON.parse(await ok(['network', 'inspect', 'apinet']))[0];
  assert.equal(Object.keys(net.Containers).length, 2);
  assert.equal(net.IPAM.Config[0].Gateway, '10.89.240.1');
  await ok(['start', 'apicli']);
  assert.equal((await ok(['wait', 'apicli'])).trim(), '0');
  assert.match(await ok(['logs', 'apicli']), /api-web/);
  const busy = await docker(['network', 'rm', 'apinet']);
  assert.notEqual(busy.code, 0);
  assert.match(busy.stderr, /active endpoints/);
  await ok(['rm', '-f', 'apiweb', 'apicli']);
  await ok(['network', 'rm', 'apinet']);
  assert.doesNotMatch(await ok(['network', 'ls']), /apinet/);
});
