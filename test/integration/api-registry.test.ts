import { test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import * as path from 'node:path';
import { TestRoot } from '../helpers/cli.js';
import { dockerClient, startServe, stopServe } from '../helpers/serve.js';
import { BUSYBOX_OCI, ociArchiveManifestDigest, pushImage, skopeoManifestDigest, startRegistry, type Registry } from '../helpers/registry.js';

// The stock docker CLI (client only) pulls, pushes and logs in through `nestbox serve`, against
// a real registry with htpasswd auth: credentials travel in X-Registry-Auth, as docker sends them.
const creds = { user: 'bob', password: 'hunter22' };
const root = new TestRoot();
const sock = path.join(root.dir, 'docker.sock');
let server: Awaited<ReturnType<typeof startServe>>;
let reg: Registry;

const client = dockerClient(sock, path.join(root.dir, '.docker'), () => server.log());
const docker = (args: string[], input?: string) => client.docker(args, input ? { input } : {});

before(async () => {
  reg = await startRegistry({ auth: { htpasswd: creds } });
  await pushImage(reg.host, BUSYBOX_OCI, 'team/bb:1', creds);
  server = await startServe(root.dir, sock);
});
after(async () => {
  await stopServe(server.child);
  await reg.stop();
  await root.dispose();
});

test('docker login, pull, run and push through nestbox serve', async () => {
  const anon = await docker(['pull', `${reg.host}/team/bb:1`]);
  assert.notEqual(anon.code, 0);
  assert.match(anon.stderr, /nestbox login|credentials/);

  const bad = await docker(['login', reg.host, '-u', creds.user, '--password-stdin'], 'wrong\n');
  assert.notEqual(bad.code, 0);
  const login = await docker(['login', reg.host, '-u', creds.user, '--password-stdin'], `${creds.password}\n`);
  assert.equal(login.code, 0, `login: ${login.stderr} ${server.log()}`);
  assert.match(login.stdout, /Login Succeeded/);

  const pull = await docker(['pull', `${reg.host}/team/bb:1`]);
  assert.equal(pull.code, 0, pull.stderr + server.log());
  const digest = await ociArchiveManifestDigest(BUSYBOX_OCI);
  assert.match(pull.stdout, new RegExp(`Digest: ${digest}`));
  assert.match(pull.stdout, /Downloaded newer image/);

  const run = await docker(['run', '--rm', '--isolation', 'process', `${reg.host}/team/bb:1`, 'echo', 'via docker']);
  assert.equal(run.code, 0, run.stderr);
  assert.equal(run.stdout, 'via docker\n');

  assert.equal((await docker(['tag', `${reg.host}/team/bb:1`, `${reg.host}/team/back:2`])).code, 0);
  const push = await docker(['push', `${reg.host}/team/back:2`]);
  assert.equal(push.code, 0, push.stderr + server.log());
  assert.match(push.stdout, new RegExp(`2: digest: ${digest} size: \\d+`));
  assert.equal(await skopeoManifestDigest(`${reg.host}/team/back:2`, creds), digest);
});
