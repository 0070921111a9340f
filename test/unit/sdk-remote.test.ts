import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Demuxer } from '../../src/sdk/demux.js';
import { errorFromReply } from '../../src/sdk/remote-errors.js';
import { muxFrame } from '../../src/api/stream.js';
import { ConflictError, InvalidArgumentError, NotFoundError } from '../../src/core/errors.js';

test('Demuxer: frames split at every byte boundary come out whole, streams apart', () => {
  const wire = Buffer.concat([muxFrame('stdout', Buffer.from([0, 1, 0])), muxFrame('stderr', Buffer.from('err')), muxFrame('stdout', Buffer.alloc(0)), muxFrame('stdout', Buffer.from('x'))]);
  for (let cut = 0; cut <= wire.length; cut++) {
    const got: Array<[string, string]> = [];
    const d = new Demuxer((s, data) => got.push([s, data.toString('hex')]));
    d.push(wire.subarray(0, cut));
    d.push(wire.subarray(cut));
    assert.deepEqual(got, [['stdout', '000100'], ['stderr', Buffer.from('err').toString('hex')], ['stdout', '78']]);
    assert.equal(d.leftover, 0);
  }
});

test('errorFromReply: statuses and codes back to the core error classes', () => {
  const nf = errorFromReply(404, Buffer.from('{"message":"no such container: abc","code":"CONTAINER_NOT_FOUND"}'), '/containers/abc/json');
  assert.ok(nf instanceof NotFoundError);
  assert.equal(nf.code, 'CONTAINER_NOT_FOUND');
  assert.equal(nf.message, 'no such container: abc');
  const other = errorFromReply(404, Buffer.from('{"message":"page not found"}'), '/exec/123/json');
  assert.ok(other instanceof NotFoundError && other.code === 'EXEC_NOT_FOUND' && other.message === 'page not found');
  const c = errorFromReply(409, Buffer.from('{"message":"container x is not running","code":"NOT_RUNNING"}'), '/x');
  assert.ok(c instanceof ConflictError && c.code === 'NOT_RUNNING');
  assert.equal(errorFromReply(409, Buffer.from('{"message":"m"}'), '/x').code, 'CONFLICT');
  const bad = errorFromReply(400, Buffer.from('not json'), '/x');
  assert.ok(bad instanceof InvalidArgumentError && bad.message === 'not json');
  assert.equal(errorFromReply(500, Buffer.from('{"message":"boom"}'), '/x').code, 'BACKEND_FAILED');
});
