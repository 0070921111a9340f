import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Engine } from './engine.js';
import { BackendError, ConflictError, InvalidArgumentError } from './errors.js';
import { Checkpoints, checkable } from './checkpoints.js';
import { forkTempDir, sweepForks } from './fork.js';
import { qmpCommand, quitVm } from '../vm/qemu/checkpoint-vm.js';
import { MIGRATION_CHUNK_BYTES } from './migration-in.js';

export interface MigrateResult {
  /** The container on the destination (its id there). */
  id: string;
  /** How long the workload was stopped: from the source's stop to the destination's report that it runs, ms. */
  downtimeMs: number;
  bytes: number;
  totalMs: number;
  /** Where the downtime went: save (checkpoint), export, upload, restore (on the destination), ms. */
  phases: Record<string, number>;
}

/** Chunks of the upload: as large as the destination's migration route takes (16 MiB). */
const CHUNK = MIGRATION_CHUNK_BYTES;
const TIMEOUT_MS = Number(process.env.NESTBOX_MIGRATE_TIMEOUT_MS ?? 120_000);

/**
 * `nestbox migrate CONTAINER --to HOST:PORT` (docs/checkpoints.md, "Migration"): stop the source,
 * save a full checkpoint of it (memory, CPUs, devices, writable layer) and upload its export to
 * the `nestbox serve` at HOST:PORT, which checks and restores it under the same name and answers
 * once it runs; only then is the source ended and removed. Any failure resumes the source; a
 * killed migrate is resumed by the next fork or migrate (the temp directory names the source).
 */
export async function migrate(engine: Engine, ref: string, to: string): Promise<MigrateResult> {
  const t0 = Date.now();
  const base = destination(to);
  await sweepForks(engine);
  const found = await engine.inspect(ref);
  checkable(found);
  if (found.state.status !== 'running') throw new ConflictError(`cannot migrate container ${found.config.name}: it is ${found.state.status}, not running`, 'NOT_RUNNING');
  await call(base, 'GET', '/nestbox/v1/info'); // is it there? (before the source is stopped)
  const tmp = await forkTempDir(engine, found.config.id);
  const checkpoints = new Checkpoints(engine);
  const cpName = `migrate-${randomBytes(6).toString('hex')}`;
  const tar = path.join(tmp, 'checkpoint.tar');
  let stoppedAt: number | undefined;
  let remoteId: string | undefined;
  const phases: Record<string, number> = {};
  try {
    stoppedAt = Date.now();
    const r = await checkpoints.create(found.config.id, cpName, { keepStopped: true });
    stoppedAt = Date.now() - r.pausedMs!;
    phases.saveMs = Date.now() - stoppedAt;
    let t = Date.now();
    await checkpoints.exportTo(cpName, tar);
    phases.exportMs = Date.now() - t;
    t = Date.now();
    await checkpoints.remove(cpName);
    remoteId = ((await call(base, 'POST', '/nestbox/v1/migrations')) as { id: string }).id;
    if (typeof remoteId !== 'string' || !/^[0-9a-f]{24}$/.test(remoteId)) throw new BackendError(`migrate to ${to}: the destination answered no migration id`, 'MIGRATION_FAILED');
    const fh = await fs.open(tar, 'r');
    let bytes = 0;
    try {
      const buf = Buffer.alloc(CHUNK);
      for (;;) {
        const { bytesRead } = await fh.read(buf, 0, CHUNK, bytes);
        if (bytesRead === 0) break;
        await call(base, 'PUT', `/nestbox/v1/migrations/${remoteId}/data?offset=${bytes}`, buf.subarray(0, bytesRead));
        bytes += bytesRead;
      }
    } finally {
      await fh.close();
    }
    phases.uploadMs = Date.now() - t;
    t = Date.now();
    const started = (await call(base, 'POST', `/nestbox/v1/migrations/${remoteId}/start`, Buffer.from(JSON.stringify({ name: found.config.name })), 'application/json')) as { id?: unknown; status?: unknown };
    if (typeof started.id !== 'string' || started.status !== 'running') throw new BackendError(`migrate to ${to}: the destination did not report a running container`, 'MIGRATION_FAILED');
    phases.restoreMs = Date.now() - t;
    const downtimeMs = Date.now() - stoppedAt;
    // released only now: the destination runs it
    const c = await engine.inspect(found.config.id);
    await quitVm(c.dir, c.state.pid, c.state.pidStart);
    await engine.remove(found.config.id, { force: true });
    return { id: started.id, downtimeMs, bytes, totalMs: Date.now() - t0, phases };
  } catch (err) {
    if (remoteId) await call(base, 'DELETE', `/nestbox/v1/migrations/${remoteId}`).catch(() => undefined);
    await checkpoints.remove(cpName).catch(() => undefined);
    if (stoppedAt !== undefined) {
      const c = await engine.inspect(found.config.id).catch(() => undefined);
      if (c?.state.status === 'running') await qmpCommand(c.dir, 'cont').catch(() => undefined);
    }
    throw err;
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

function destination(to: string): string {
  const m = /^(?:tcp:\/\/)?([a-zA-Z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(to);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new InvalidArgumentError(`migrate: --to must be HOST:PORT of a \`nestbox serve -H tcp://HOST:PORT\`, not ${JSON.stringify(to)}`);
  return `http://${m[1]}:${m[2]}`;
}

/** One request to the destination's native API; a non-2xx answer is an error naming its message. */
async function call(base: string, method: string, route: string, body?: Buffer, type = 'application/octet-stream'): Promise<unknown> {
  let res: Response;
  try {
    res = await fetch(base + route, { method, ...(body ? { body, headers: { 'Content-Type': type } } : {}), signal: AbortSignal.timeout(TIMEOUT_MS) });
  } catch (err) {
    const cause = (err as { cause?: { message?: string } }).cause?.message ?? (err as Error).message;
    throw new BackendError(`migrate: ${method} ${base}${route}: ${cause}`, 'MIGRATION_FAILED');
  }
  const text = await res.text();
  if (!res.ok) {
    let message = text;
    try {
      message = (JSON.parse(text) as { message?: string }).message ?? text;
    } catch {
      // not JSON
    }
    throw new BackendError(`migrate: the destination refused (${res.status}): ${message}`, 'MIGRATION_FAILED');
  }
  return text ? JSON.parse(text) : undefined;
}
