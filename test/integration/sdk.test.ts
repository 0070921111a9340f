import { describe, test, before, after } from 'node:test';
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import * as os from 'node:os';
import * as path from 'node:path';
import type { ChildProcess } from 'node:child_process';
import { Nestbox, NotFoundError, ConflictError, NestboxError, RegistryError, SandboxFileError } from '../../src/index.js';
import { TestRoot } from '../helpers/cli.js';
import { startServe, stopServe } from '../helpers/serve.js';

// ONE suite, run against both SandboxApi implementations: in-process (Engine) and remote
// (`nestbox serve` over its Docker-compatible endpoints). Same results, same error codes.
const root = new TestRoot();
const sock = path.join(root.dir, 'd.sock');
let server: ChildProcess | undefined;
let serverLog = () => '';

before(async () => {
  const s = await startServe(root.dir, sock);
  server = s.child;
  serverLog = s.log;
});

after(async () => {
  if (server) await stopServe(server);
  await root.dispose();
});

const modes: Array<[string, () => Nestbox]> = [
  ['local', () => Nestbox.local({ root: root.dir })],
  ['remote', () => Nestbox.connect({ socketPath: sock })],
];

for (const [mode, make] of modes) {
  describe(`SDK (${mode})`, () => {
    let nb: Nestbox;
    before(() => {
      nb = make();
    });
    after(() => nb.close());

    test('run: exit code, stdout and stderr kept apart', async () => {
      await using sb = await nb.create({ image: 'busybox', isolation: 'process' });
      const r = await sb.run(['sh', '-c', 'echo out; echo err >&2; exit 3']);
      assert.deepEqual(r, { exitCode: 3, stdout: 'out\n', stderr: 'err\n' });
      assert.deepEqual(await sb.run(['true']), { exitCode: 0, stdout: '', stderr: '' });
      const nf = await sb.run(['no-such-command']);
      assert.equal(nf.exitCode, 127);
      assert.match(nf.stderr, /no-such-command/);
      const env = await sb.run(['sh', '-c', 'echo $A:$(pwd)'], { env: { A: 'x y' }, cwd: '/tmp' });
      assert.equal(env.stdout, 'x y:/tmp\n');
      assert.equal((await sb.run(['cat'], { stdin: 'from stdin' })).stdout, 'from stdin');
    });

    test('exec streams output while the command runs', async () => {
      await using sb = await nb.create({ image: 'busybox', isolation: 'process' });
      const seen: Array<[string, string, number]> = [];
      const t0 = Date.now();
      const { exitCode } = await sb.exec(['sh', '-c', 'echo one; sleep 1; echo two >&2; exit 5'], {
        onStdout: (d) => seen.push(['out', d.toString(), Date.now() - t0]),
        onStderr: (d) => seen.push(['err', d.toString(), Date.now() - t0]),
      });
      const total = Date.now() - t0;
      assert.equal(exitCode, 5);
      assert.deepEqual(seen.map(([s, d]) => [s, d]), [['out', 'one\n'], ['err', 'two\n']]);
      assert.ok(seen[0]![2] < total - 500, `first chunk came at ${seen[0]![2]} ms of ${total} ms: not streamed`);
    });

    test('files round trip, binary-safe; errors name the path', async () => {
      await using sb = await nb.create({ image: 'busybox', isolation: 'process' });
      const data = Buffer.concat([Buffer.from([0, 0, 1, 255, 0, 10, 13, 0]), randomBytes(300_000), Buffer.alloc(1000)]);
      await sb.writeFile('/tmp/blob.bin', data);
      assert.equal((await sb.run(['wc', '-c', '/tmp/blob.bin'])).stdout.trim().split(/\s+/)[0], String(data.length));
      assert.ok((await sb.readFile('/tmp/blob.bin')).equals(data));
      await sb.writeFile('/tmp/empty', Buffer.alloc(0));
      assert.equal((await sb.readFile('/tmp/empty')).length, 0);
      await sb.writeFile('/tmp/text', 'héllo\n');
      assert.equal((await sb.readFile('/tmp/text')).toString(), 'héllo\n');

      const missing = await sb.readFile('/no/such/file').then(() => undefined, (e: unknown) => e);
      assert.ok(missing instanceof NotFoundError, String(missing));
      assert.equal(missing.code, 'FILE_NOT_FOUND');
      assert.match(missing.message, /\/no\/such\/file/);
      const noDir = await sb.writeFile('/no/such/dir/x', 'x').then(() => undefined, (e: unknown) => e);
      assert.ok(noDir instanceof NotFoundError, String(noDir));
      assert.match(noDir.message, /\/no\/such\/dir\/x/);
      const isDir = await sb.readFile('/tmp').then(() => undefined, (e: unknown) => e);
      assert.ok(isDir instanceof SandboxFileError, String(isDir));
      assert.equal(isDir.code, 'FILE_IO');
      assert.match(isDir.message, /`\/tmp`/);
    });

    test('not found and not running: same classes and codes in both modes', async () => {
      const nf = await nb.get('no-such-sandbox').then(() => undefined, (e: unknown) => e);
      assert.ok(nf instanceof NotFoundError, String(nf));
      assert.equal(nf.code, 'CONTAINER_NOT_FOUND');
      assert.match(nf.message, /no-such-sandbox/);
      const bad = await nb.create({ image: 'no-such-image-xyz', isolation: 'process', pull: 'never' }).then(() => undefined, (e: unknown) => e);
      assert.ok(bad instanceof NestboxError && bad.code === 'IMAGE_NOT_FOUND', String(bad));
      // No internet here: the implicit pull fails the same way in both modes.
      const offline = await nb.create({ image: 'no-such-image-xyz', isolation: 'process' }).then(() => undefined, (e: unknown) => e);
      assert.ok(offline instanceof RegistryError && offline.code === 'REGISTRY_UNAVAILABLE', String(offline));
      assert.match(offline.message, /docker\.io/);

      const sb = await nb.create({ image: 'busybox', isolation: 'process', cmd: ['sh', '-c', 'echo main-out; echo main-err >&2; exec sleep 1000'] });
      try {
        assert.equal((await nb.get(sb.name)).id, sb.id);
        assert.equal((await sb.inspect()).status, 'running');
        const stopped = await sb.stop({ timeoutSec: 5 });
        assert.equal(stopped.exitCode, 143); // SIGTERM
        assert.deepEqual(await stopped.logs(), { stdout: 'main-out\n', stderr: 'main-err\n' });
        const late = await sb.run(['true']).then(() => undefined, (e: unknown) => e);
        assert.ok(late instanceof ConflictError, String(late));
        assert.equal(late.code, 'NOT_RUNNING');
        const got = await nb.get(sb.id).then(() => undefined, (e: unknown) => e);
        assert.ok(got instanceof ConflictError && got.code === 'NOT_RUNNING', String(got));
        await stopped.remove();
      } finally {
        await sb[Symbol.asyncDispose]();
      }
      const gone = await sb.inspect().then(() => undefined, (e: unknown) => e);
      assert.ok(gone instanceof NotFoundError && gone.code === 'CONTAINER_NOT_FOUND', String(gone));
    });

    test('a main process that exits: wait gives its code and logs', async () => {
      await using sb = await nb.create({ image: 'busybox', isolation: 'process', cmd: ['sh', '-c', 'echo bye; exit 4'] });
      const done = await sb.wait();
      assert.equal(done.exitCode, 4);
      assert.equal((await done.logs()).stdout, 'bye\n');
    });

    test('await using removes the sandbox at the end of the scope', async () => {
      let id = '';
      {
        await using sb = await nb.create({ image: 'busybox', isolation: 'process', name: `sdk-dispose-${mode}` });
        id = sb.id;
        assert.equal((await nb.get(`sdk-dispose-${mode}`)).id, id);
      }
      const err = await nb.get(id).then(() => undefined, (e: unknown) => e);
      assert.ok(err instanceof NotFoundError, String(err));
      // the name is free again
      await using again = await nb.create({ image: 'busybox', isolation: 'process', name: `sdk-dispose-${mode}` });
      assert.notEqual(again.id, id);
      const dup = await nb.create({ image: 'busybox', isolation: 'process', name: `sdk-dispose-${mode}` }).then(() => undefined, (e: unknown) => e);
      assert.ok(dup instanceof ConflictError, String(dup));
      assert.equal(dup.code, 'NAME_IN_USE');
    });

    test('a VM sandbox: its own kernel, run, files, disposal', { timeout: 180_000 }, async () => {
      let id = '';
      {
        await using sb = await nb.create({ image: 'busybox', memoryMiB: 128 });
        id = sb.id;
        const r = await sb.run(['uname', '-r']);
        assert.equal(r.exitCode, 0, r.stderr);
        assert.notEqual(r.stdout.trim(), os.release(), 'a VM sandbox runs its own guest kernel');
        const data = Buffer.concat([Buffer.alloc(16), randomBytes(100_000), Buffer.from([0])]);
        await sb.writeFile('/root.bin', data);
        assert.ok((await sb.readFile('/root.bin')).equals(data));
        assert.deepEqual(await sb.run(['sh', '-c', 'echo e >&2; exit 9']), { exitCode: 9, stdout: '', stderr: 'e\n' });
      }
      assert.ok((await nb.get(id).catch((e: unknown) => e)) instanceof NotFoundError);
    });
  });
}

test('the server logged no internal errors', () => {
  assert.doesNotMatch(serverLog(), /: 500 /);
});
