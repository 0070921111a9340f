import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, statSync } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { TestRoot } from '../helpers/cli.js';
import { DOCKER, dockerClient, startServe, stopServe } from '../helpers/serve.js';

// `nestbox serve` driven by the stock docker CLI (client only) over a unix socket.
const root = new TestRoot();
const sock = path.join(root.dir, 'docker.sock');
let server: ChildProcess | undefined;
let serverLog: () => string = () => '';
const P = ['--isolation=process'];

async function startServer(): Promise<ChildProcess> {
  const started = await startServe(root.dir, sock);
  serverLog = started.log;
  return started.child;
}

const { docker } = dockerClient(sock, path.join(root.dir, '.docker'), () => `server: ${serverLog()}`);

/** A raw HTTP exchange on the socket (for what the docker CLI never sends). */
function raw(request: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const c = net.connect(sock);
    let data = '';
    c.on('data', (d) => (data += d.toString()));
    c.on('end', () => resolve(data));
    c.on('error', reject);
    c.end(request);
  });
}

before(async () => {
  server = await startServer();
});

after(async () => {
  if (server) await stopServe(server);
  await root.dispose();
});

test('serve: unix socket with mode 0660, ping headers and version negotiation', async () => {
  assert.equal(statSync(sock).mode & 0o777, 0o660);
  const ping = await raw('GET /_ping HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n');
  assert.match(ping, /^HTTP\/1\.1 200 OK/);
  assert.match(ping, /Api-Version: 1\.47/i);
  assert.match(ping, /Ostype: linux/i);
  assert.match(ping, /Docker-Experimental: false/i);
  assert.match(ping, /\r\n\r\nOK$/);
  const v = await docker(['version', '--format', '{{.Server.APIVersion}} {{.Server.MinAPIVersion}} {{.Client.APIVersion}}']);
  assert.equal(v.code, 0, v.stderr);
  assert.equal(v.stdout.trim(), '1.47 1.40 1.47');
  const old = await raw('GET /v1.30/version HTTP/1.1\r\nHost: d\r\nConnection: close\r\n\r\n');
  assert.match(old, /^HTTP\/1\.1 400/);
  assert.match(old, /"message":"client version 1.30 is too old/);
  const info = await docker(['info', '--format', '{{.Driver}} {{.OSType}} {{.DefaultRuntime}}']);
  assert.equal(info.stdout.trim(), 'nestbox linux nestbox-vm');
});

test('docker run in a VM prints its output and propagates the exit code', async () => {
  const r = await docker(['run', '--rm', 'busybox', 'sh', '-c', 'echo hi; echo oops >&2; exit 3']);
  assert.equal(r.code, 3, r.stderr + serverLog());
  assert.equal(r.stdout, 'hi\n');
  assert.equal(r.stderr, 'oops\n');
  assert.equal((await docker(['ps', '-aq'])).stdout, '', '--rm removed it');
});

test('docker run --isolation=process: output, exit codes, stdin', async () => {
  const r = await docker(['run', '--rm', ...P, 'busybox', 'echo', 'hi']);
  assert.equal(r.code, 0, r.stderr);
  assert.equal(r.stdout, 'hi\n');
  assert.equal((await docker(['run', '--rm', ...P, 'busybox', 'sh', '-c', 'exit 3'])).code, 3);
  assert.equal((await docker(['run', '--rm', ...P, 'busybox', 'sh', '-c', 'kill -9 $$'])).code, 137);
  const cat = await docker(['run', '-i', '--rm', ...P, 'busybox', 'cat'], { input: 'abc\n' });
  assert.equal(cat.stdout, 'abc\n', cat.stderr);
  const env = await docker(['run', '--rm', ...P, '-e', 'A=1', '-w', '/tmp', '-u', 'nobody', '--hostname', 'hb', 'busybox', 'sh', '-c', 'echo $A $(pwd) $(id -u) $(hostname)']);
  assert.equal(env.stdout, '1 /tmp 65534 hb\n', env.stderr);
});

test('detached: ps, logs --tail, exec, inspect, kill, wait, stop, rm -f', async () => {
  const run = await docker(['run', '-d', '--name', 'web', ...P, 'busybox', 'sh', '-c', 'echo one; echo two; echo three; sleep 100']);
  assert.equal(run.code, 0, run.stderr);
  const id = run.stdout.trim();
  assert.match(id, /^[0-9a-f]{64}$/);
  assert.match((await docker(['ps', '--format', '{{.Names}} {{.Status}}'])).stdout, /^web Up /m);
  const inspect = await docker(['inspect', '-f', '{{.State.Status}} {{.HostConfig.Isolation}} {{.Name}}', 'web']);
  assert.equal(inspect.stdout, 'running process /web\n', inspect.stderr);
  for (let i = 0; i < 50 && !(await docker(['logs', 'web'])).stdout.includes('three'); i++) await new Promise((r) => setTimeout(r, 100));
  assert.equal((await docker(['logs', '--tail', '2', 'web'])).stdout, 'two\nthree\n');
  assert.equal((await docker(['exec', 'web', 'echo', 'x'])).stdout, 'x\n');
  assert.equal((await docker(['exec', 'web', 'sh', '-c', 'exit 5'])).code, 5);
  assert.equal((await docker(['exec', '-i', 'web', 'cat'], { input: 'in\n' })).stdout, 'in\n');
  assert.equal((await docker(['exec', 'web', 'no-such-cmd'])).code, 127);
  assert.equal((await docker(['kill', '-s', 'TERM', 'web'])).code, 0);
  assert.equal((await docker(['wait', 'web'])).stdout, '143\n');
  assert.match((await docker(['ps', '-a', '--format', '{{.Names}} {{.Status}}'])).stdout, /^web Exited \(143\)/m);
  const kill2 = await docker(['kill', 'web']);
  assert.notEqual(kill2.code, 0);
  assert.match(kill2.stderr, /not running/);
  assert.equal((await docker(['rm', 'web'])).code, 0);

  await docker(['run', '-d', '--name', 'web2', ...P, 'busybox', 'sleep', '100']);
  const stop = await docker(['stop', '-t', '5', 'web2']);
  assert.equal(stop.code, 0, stop.stderr);
  assert.equal((await docker(['inspect', '-f', '{{.State.ExitCode}}', 'web2'])).stdout, '143\n');
  await docker(['start', 'web2']);
  const dup = await docker(['run', '-d', '--name', 'web2', ...P, 'busybox', 'true']);
  assert.equal(dup.code, 125);
  assert.match(dup.stderr, /web2/);
  assert.equal((await docker(['rm', '-f', 'web2'])).code, 0);
  assert.equal((await docker(['ps', '-aq'])).stdout, '');
  assert.equal(existsSync(path.join(root.dir, 'containers', id)), false);
});

test('images, rmi, a pull that cannot reach its registry; errors come back as dockerd reports them', async () => {
  const images = await docker(['images', '--format', '{{.Repository}}:{{.Tag}}']);
  assert.equal(images.stdout, 'busybox:latest\n', images.stderr);
  // No internet here: docker's implicit pull of a missing image asks the registry and says why it failed.
  const missing = await docker(['run', '--rm', 'no-such-image']);
  assert.equal(missing.code, 125);
  assert.match(missing.stderr, /docker\.io\/library\/no-such-image/);
  const nf = await docker(['logs', 'nope']);
  assert.equal(nf.code, 1);
  assert.match(nf.stderr, /Error response from daemon: no such container: nope/);
  const bad = await raw('POST /v1.47/containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: 4\r\nConnection: close\r\n\r\n{bad');
  assert.match(bad, /^HTTP\/1\.1 400/);
  assert.match(bad, /"message":"invalid JSON/);
  const big = await raw(`POST /v1.47/containers/create HTTP/1.1\r\nHost: d\r\nContent-Type: application/json\r\nContent-Length: ${2 * 1024 * 1024}\r\nConnection: close\r\n\r\n`);
  assert.match(big, /^HTTP\/1\.1 413/);
  const iso = await docker(['run', '--rm', '--isolation=weird', 'busybox', 'true']);
  assert.equal(iso.code, 125);
  assert.match(iso.stderr, /invalid isolation/);
  // a client that vanishes mid-attach does not take the server down
  await new Promise<void>((resolve) => {
    const c = net.connect(sock, () => {
      c.write('POST /v1.47/containers/create HTTP/1.1\r\nHost: d\r\nContent-Length: 10\r\n\r\n{"Ima');
      c.destroy();
      resolve();
    });
  });
  const id = (await docker(['create', ...P, 'busybox', 'sh', '-c', 'while true; do echo tick; sleep 0.1; done'])).stdout.trim();
  const attached = net.connect(sock, () => attached.write(`POST /v1.47/containers/${id}/attach?stream=1&stdout=1 HTTP/1.1\r\nHost: d\r\nConnection: Upgrade\r\nUpgrade: tcp\r\n\r\n`));
  let got = '';
  attached.on('data', (d: Buffer) => (got += d.toString('latin1')));
  for (let i = 0; i < 50 && !got.includes('101 UPGRADED'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.equal((await docker(['start', id])).code, 0);
  for (let i = 0; i < 50 && !got.includes('tick'); i++) await new Promise((r) => setTimeout(r, 50));
  assert.match(got, /tick/);
  attached.destroy(); // mid-stream
  await new Promise((r) => setTimeout(r, 500));
  assert.equal((await docker(['rm', '-f', id])).code, 0);
  assert.equal((await docker(['run', '--rm', ...P, 'busybox', 'echo', 'still'])).stdout, 'still\n');
  const rmi = await docker(['rmi', 'busybox']);
  assert.equal(rmi.code, 0, rmi.stderr);
  assert.match(rmi.stdout, /Untagged: busybox:latest/);
  assert.equal((await docker(['images', '-q'])).stdout, '');
});

test('docker run -it: a real pty through the hijacked raw stream, with the window size', async () => {
  const env = `DOCKER_HOST=unix://${sock} DOCKER_CONFIG=${path.join(root.dir, '.docker')}`;
  const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn('script', ['-qec', `stty rows 21 cols 93; ${env} ${DOCKER} run -it --rm --isolation=process busybox sh -c 'tty; stty size; exit 6'`, '/dev/null']);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
  assert.match(r.out, /\/dev\/pts\/\d+/, r.out);
  assert.match(r.out, /21 93/, r.out);
  assert.equal(r.code, 6, JSON.stringify(r.out) + serverLog());
});

test('docker logs -f follows until exit; docker exec -it gets a pty', async () => {
  assert.equal((await docker(['run', '-d', '--name', 'follow1', ...P, 'busybox', 'sh', '-c', 'for i in 1 2 3; do echo tick$i; sleep 0.3; done'])).code, 0);
  const followed = await docker(['logs', '-f', 'follow1']);
  assert.equal(followed.stdout, 'tick1\ntick2\ntick3\n');
  assert.equal((await docker(['run', '-d', '--name', 'tty1', ...P, 'busybox', 'sleep', '100'])).code, 0);
  const env = `DOCKER_HOST=unix://${sock} DOCKER_CONFIG=${path.join(root.dir, '.docker')}`;
  const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
    const child = spawn('script', ['-qec', `stty rows 17 cols 71; ${env} ${DOCKER} exec -it tty1 sh -c 'tty; stty size; exit 2'`, '/dev/null']);
    let out = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.on('close', (code) => resolve({ code, out }));
  });
  assert.match(r.out, /\/dev\/pts\/\d+/, r.out);
  assert.match(r.out, /17 71/, r.out);
  assert.equal(r.code, 2, r.out);
  assert.equal((await docker(['rm', '-f', 'follow1', 'tty1'])).code, 0);
});

test('CLI and API share one core: each sees what the other created', async () => {
  assert.equal((await root.nb(['create', '--name', 'fromcli', ...P, 'busybox', 'true'])).code, 0);
  assert.match((await docker(['ps', '-a', '--format', '{{.Names}}'])).stdout, /^fromcli$/m);
  assert.equal((await docker(['create', '--name', 'fromapi', ...P, 'busybox', 'true'])).code, 0);
  assert.match((await root.nb(['ps', '-a'])).stdout, /process\s+fromapi/);
  assert.equal((await docker(['rm', 'fromcli'])).code, 0);
  assert.equal((await root.nb(['rm', 'fromapi'])).code, 0);
});

test('SIGTERM stops the server, not the containers', async () => {
  // the image was removed above: the embedded default image comes back on use, without a pull
  const run = await docker(['run', '-d', '--name', 'survivor', ...P, 'busybox', 'sleep', '100']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(await stopServe(server!), 0);
  assert.equal(existsSync(sock), false, 'socket removed');
  assert.match((await root.nb(['ps'])).stdout, /survivor/);
  server = await startServer();
  assert.match((await docker(['ps', '--format', '{{.Names}}'])).stdout, /^survivor$/m);
  assert.equal((await docker(['rm', '-f', 'survivor'])).code, 0);
});
