import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Engine } from './engine.js';
import { BackendError, ConflictError, InvalidArgumentError } from './errors.js';
import { Checkpoints, checkable } from './checkpoints.js';
import { forkTempDir, scratchCheckpointName, sweepForks } from './fork.js';
import { qmpCommand, quitVm } from '../vm/qemu/checkpoint-vm.js';
import { MIGRATION_CHUNK_BYTES } from './migration-in.js';
import { ramRuns } from './migration-upload.js';
import { CHECKPOINT_FILES } from './checkpoint-manifest.js';

export interface MigrateResult {
  /** The container on the destination (its id there). */
  id: string;
  /** How long the workload was stopped: from the source's stop to the destination's report that it runs, ms. */
  downtimeMs: number;
  bytes: number;
  totalMs: number;
  /** Where the downtime went: save (checkpoint), upload (manifest and files), restore (on the destination), ms. */
  phases: Record<string, number>;
}

/** Chunks of the upload: as large as the destination's migration route takes (16 MiB). */
const CHUNK = MIGRATION_CHUNK_BYTES;
const TIMEOUT_MS = Number(process.env.NESTBOX_MIGRATE_TIMEOUT_MS ?? 120_000);

/**
 * `nestbox migrate CONTAINER --to HOST:PORT` (docs/checkpoints.md, "Migration"): stop the source,
 * save a full checkpoint of it (memory, CPUs, devices, writable layer) and send its manifest and
 * files (RAM: its non-zero pages) to the `nestbox serve` at HOST:PORT, which checks and restores
 * it under the same name and answers once it runs; only then is the source ended and removed.
 * Any failure resumes the source; a killed migrate is resumed by the next fork or migrate (the
 * temp directory names the source and the scratch checkpoint).
 */
export async function migrate(engine: Engine, ref: string, to: string): Promise<MigrateResult> {
  const t0 = Date.now();
  const base = destination(to);
  await sweepForks(engine);
  const found = await engine.inspect(ref);
  checkable(found);
  if (found.state.status !== 'running') throw new ConflictError(`cannot migrate container ${found.config.name}: it is ${found.state.status}, not running`, 'NOT_RUNNING');
  await call(base, 'GET', '/nestbox/v1/info'); // is it there? (before the source is stopped)
  const checkpoints = new Checkpoints(engine);
  const cpName = scratchCheckpointName();
  // names the source (resumed) and the scratch checkpoint (removed) for the sweep after a kill
  const tmp = await forkTempDir(engine, found.config.id, cpName);
  let stoppedAt: number | undefined;
  let remoteId: string | undefined;
  const phases: Record<string, number> = {};
  try {
    stoppedAt = Date.now();
    const r = await checkpoints.create(found.config.id, cpName, { keepStopped: true, scratch: true });
    stoppedAt = Date.now() - r.pausedMs!;
    phases.saveMs = Date.now() - stoppedAt;
    const t = Date.now();
    const cpDir = checkpoints.store.pathOf(cpName);
    const manifest = await fs.readFile(path.join(cpDir, CHECKPOINT_FILES.manifest), 'utf8');
    const created = (await call(base, 'POST', '/nestbox/v1/migrations', Buffer.from(JSON.stringify({ name: found.config.name, manifest })), 'application/json')) as { id?: unknown };
    if (typeof created?.id !== 'string' || !/^[0-9a-f]{24}$/.test(created.id)) throw new BackendError(`migrate to ${to}: the destination answered no migration id`, 'MIGRATION_FAILED');
    remoteId = created.id;
    const route = `/nestbox/v1/migrations/${remoteId}`;
    // the RAM stream and the other files (one after another) at once: the destination takes them in turn
    const sent = { bytes: 0 };
    const ram = call(base, 'PUT', `${route}/ram`, ramRuns(path.join(cpDir, CHECKPOINT_FILES.ram), sent));
    const files = (async () => {
      let bytes = 0;
      for (const key of Object.keys(r.manifest.files).filter((k) => k !== 'ram')) {
        bytes += await sendFile(path.join(cpDir, CHECKPOINT_FILES[key as keyof typeof CHECKPOINT_FILES]), (offset, body) => call(base, 'PUT', `${route}/files/${key}?offset=${offset}`, body));
      }
      return bytes;
    })();
    const [ramSent, filesSent] = await Promise.allSettled([ram, files]);
    if (ramSent.status === 'rejected') throw ramSent.reason;
    if (filesSent.status === 'rejected') throw filesSent.reason;
    const bytes = sent.bytes + filesSent.value;
    phases.uploadMs = Date.now() - t;
    const t2 = Date.now();
    const started = (await call(base, 'POST', `${route}/start`, Buffer.from(JSON.stringify({ name: found.config.name })), 'application/json')) as { id?: unknown; status?: unknown };
    if (typeof started.id !== 'string' || started.status !== 'running') throw new BackendError(`migrate to ${to}: the destination did not report a running container`, 'MIGRATION_FAILED');
    phases.restoreMs = Date.now() - t2;
    const downtimeMs = Date.now() - stoppedAt;
    // released only now: the destination runs it
    const c = await engine.inspect(found.config.id);
    await quitVm(c.dir, c.state.pid, c.state.pidStart);
    await engine.remove(found.config.id, { force: true });
    return { id: started.id, downtimeMs, bytes, totalMs: Date.now() - t0, phases };
  } catch (err) {
    if (remoteId) await call(base, 'DELETE', `/nestbox/v1/migrations/${remoteId}`).catch(() => undefined);
    if (stoppedAt !== undefined) {
      const c = await engine.inspect(found.config.id).catch(() => undefined);
      if (c?.state.status === 'running') await qmpCommand(c.dir, 'cont').catch(() => undefined);
    }
    throw err;
  } finally {
    // sent or not, the scratch checkpoint goes (after the downtime was measured)
    await checkpoints.remove(cpName).catch(() => undefined);
    await fs.rm(tmp, { recursive: true, force: true });
  }
}

/** Send `file` in chunks (`put(offset, chunk)`, one at a time); its size. */
async function sendFile(file: string, put: (offset: number, body: Buffer) => Promise<unknown>): Promise<number> {
  const fh = await fs.open(file, 'r');
  let bytes = 0;
  try {
    const buf = Buffer.alloc(CHUNK);
    for (;;) {
      const { bytesRead } = await fh.read(buf, 0, CHUNK, bytes);
      if (bytesRead === 0) return bytes;
      await put(bytes, buf.subarray(0, bytesRead));
      bytes += bytesRead;
    }
  } finally {
    await fh.close();
  }
}

function destination(to: string): string {
  const m = /^(?:tcp:\/\/)?([a-zA-Z0-9.-]+|\[[0-9a-fA-F:]+\]):(\d{1,5})$/.exec(to);
  if (!m || Number(m[2]) < 1 || Number(m[2]) > 65535) throw new InvalidArgumentError(`migrate: --to must be HOST:PORT of a \`nestbox serve -H tcp://HOST:PORT\`, not ${JSON.stringify(to)}`);
  return `http://${m[1]}:${m[2]}`;
}

/** One request to the destination's native API; a non-2xx answer is an error naming its message. A body that is an iterable is streamed. */
async function call(base: string, method: string, route: string, body?: Buffer | AsyncIterable<Buffer>, type = 'application/octet-stream'): Promise<unknown> {
  let res: Response;
  try {
    const streamed = body !== undefined && !Buffer.isBuffer(body);
    res = await fetch(base + route, { method, ...(body ? { body, headers: { 'Content-Type': type } } : {}), ...(streamed ? { duplex: 'half' } : {}), signal: AbortSignal.timeout(TIMEOUT_MS) } as RequestInit);
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
