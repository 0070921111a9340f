import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InvalidArgumentError } from '../../src/core/errors.js';
import { familiar, normaliseReference, parseReference, parseTaggedReference } from '../../src/image/reference.js';

const HEX = 'a'.repeat(64);

describe('image references', () => {
  it('normalises like Docker', () => {
    const cases: [string, string][] = [
      ['busybox', 'docker.io/library/busybox:latest'],
      ['busybox:1.36', 'docker.io/library/busybox:1.36'],
      ['library/busybox', 'docker.io/library/busybox:latest'],
      ['docker.io/busybox', 'docker.io/library/busybox:latest'],
      ['index.docker.io/library/busybox:x', 'docker.io/library/busybox:x'],
      ['user/app:1', 'docker.io/user/app:1'],
      ['ghcr.io/x/y:tag', 'ghcr.io/x/y:tag'],
      ['localhost/app', 'localhost/app:latest'],
      ['localhost:5000/a/b', 'localhost:5000/a/b:latest'],
      [`localhost:5000/a/b@sha256:${HEX}`, `localhost:5000/a/b@sha256:${HEX}`],
      [`busybox:1@sha256:${HEX}`, `docker.io/library/busybox:1@sha256:${HEX}`],
      ['registry.example.com:443/team/sub/app:v1.2.3-rc_1', 'registry.example.com:443/team/sub/app:v1.2.3-rc_1'],
      ['a__b-c---d/e.f_g', 'docker.io/a__b-c---d/e.f_g:latest'],
      ['[::1]:5000/a:b', '[::1]:5000/a:b'],
    ];
    for (const [input, want] of cases) assert.equal(normaliseReference(input), want, input);
  });

  it('parses into parts', () => {
    assert.deepEqual(parseReference('localhost:5000/a/b:7'), { domain: 'localhost:5000', path: 'a/b', name: 'localhost:5000/a/b', tag: '7' });
    assert.deepEqual(parseReference(`ghcr.io/x/y@sha256:${HEX}`), { domain: 'ghcr.io', path: 'x/y', name: 'ghcr.io/x/y', digest: `sha256:${HEX}` });
    assert.equal(parseReference('busybox').tag, 'latest');
  });

  it('refuses bad references with InvalidArgumentError naming them', () => {
    const bad = ['', 'Busybox', 'busybox:', 'a//b', '-a', 'a:b:c', 'busybox@sha256:abc', `busybox@md5:${HEX}`, 'has space', HEX, `a:${'t'.repeat(129)}`, 'a/B/c', 'x/' + 'a'.repeat(260)];
    for (const input of bad) {
      assert.throws(() => parseReference(input), (err: unknown) => {
        assert.ok(err instanceof InvalidArgumentError, `${input}: ${String(err)}`);
        assert.ok(err.message.includes(`\`${input}\``), err.message);
        return true;
      });
    }
  });

  it('refuses a digest where a tag is needed', () => {
    assert.throws(() => parseTaggedReference(`busybox@sha256:${HEX}`), InvalidArgumentError);
    assert.equal(parseTaggedReference('busybox').tag, 'latest');
  });

  it('gives the familiar form for display', () => {
    assert.equal(familiar('docker.io/library/busybox:latest'), 'busybox:latest');
    assert.equal(familiar('docker.io/user/app:1'), 'user/app:1');
    assert.equal(familiar('docker.io/library/a/b:1'), 'library/a/b:1');
    assert.equal(familiar('ghcr.io/x/y:tag'), 'ghcr.io/x/y:tag');
    assert.equal(familiar(parseReference('busybox')), 'busybox:latest');
  });
});
