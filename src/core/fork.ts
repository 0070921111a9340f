import { randomBytes } from 'node:crypto';
import { availableParallelism } from 'node:os';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Container } from './container.js';
import type { Engine } from './engine.js';
import { ConflictError, InvalidArgumentError } from './errors.js';
import { Lock } from './lock.js';
import { isProcessAlive, procStartTime } from './proc.js';
import { Checkpoints, checkable, copyChannelFiles } from './checkpoints.js';
import { forEachBounded } from './parallel.js';
import { createContinuation, discard, launchSaved, newMachineId, processesRootedAt, sweepContinuations } from './saved-sandbox.js';
import { sandboxFiles } from '../vm/sandbox-files.js';
import { killMonitor } from '../vm/qemu/checkpoint-launch.js';
import { qmpCommand, qmpStatus, saveFullState } from '../vm/qemu/checkpoint-vm.js';
import { copySparse } from '../vm/qemu/template-build.js';

export interface ForkOptions {
  count?: number;
  /** Copies are named `<prefix>1`, `<prefix>2`, … (default `<source name>-fork-`); the name is the copy's hostname. */
  namePrefix?: string;
}

export interface ForkResult {
  containers: Container[];
  /** How long the source was stopped, ms. */
  pausedMs: number;
  totalMs: number;
}

/** The RAM file a copy maps (a hard link per copy: the file goes when the last copy's directory does). */
export const FORK_RAM = 'ram.fork';
const MAX_COPIES = 64;
/** Copies launched at once. */
const FORK_PARALLEL = Math.max(1, Math.min(4, availableParallelism()));
const NAME_RE = /^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/;

/**
 * `nestbox fork`: N running copies of a running VM container, sharing its memory copy-on-write
 * (docs/checkpoints.md). The source is stopped while its full state (its RAM as a file, the rest
 * as a stream: ram-split.ts) and writable disk are saved, then resumes; each copy is a new
 * container (own id, directory, writable layer) whose QEMU maps that RAM file privately, and
 * REIDENTIFY gives it its own hostname (its name), machine-id, clock and entropy.
 */
export async function fork(engine: Engine, ref: string, opts: ForkOptions = {}): Promise<ForkResult> {
  const t0 = Date.now();
  const count = opts.count ?? 1;
  if (!Number.isInteger(count) || count < 1 || count > MAX_COPIES) throw new InvalidArgumentError(`fork: --count must be an integer from 1 to ${MAX_COPIES}, not ${opts.count}`);
  await sweepForks(engine);
  const found = await engine.inspect(ref);
  checkableForFork(found);
  const prefix = opts.namePrefix ?? `${found.config.name}-fork-`;
  const names = Array.from({ length: count }, (_, i) => `${prefix}${i + 1}`);
  for (const n of names) {
    if (!NAME_RE.test(n) || n.length > 63) throw new InvalidArgumentError(`fork: invalid container name ${JSON.stringify(n)} (letters, digits, _ . -; at most 63)`);
    if (await engine.store.nameTaken(n)) throw new ConflictError(`fork: the name ${n} is already in use by a container`, 'NAME_IN_USE');
  }
  const lock = await Lock.tryAcquire(engine.root, `start-${found.config.id}`);
  if (!lock) throw new ConflictError(`container ${found.config.name} is being started or removed`, 'ALREADY_STARTING');
  const made: Container[] = [];
  let tmp: string | undefined;
  try {
    const c = await engine.inspect(found.config.id);
    checkableForFork(c);
    const wasRunning = c.state.status === 'running';
    const image = await engine.images.resolve(c.config.imageId);
    tmp = await forkTempDir(engine, wasRunning ? c.config.id : undefined);
    const f = (n: string) => path.join(tmp!, n);
    // 1. the source stopped: its full state (RAM as a file, the rest as a stream), its writable
    // disk and log, at one instant
    const p0 = Date.now();
    // (the RAM file lives only while copies map it: no writeback to wait for while the source is stopped)
    const { ramBlock } = await saveFullState(c.dir, f('state'), f(FORK_RAM), c.config.memoryMiB * 1024 * 1024, wasRunning, { writeback: false });
    try {
      if (!c.config.readOnly) await copySparse(sandboxFiles(c.dir).rwDisk, f('rw.ext4'));
      await copyChannelFiles(c.dir, tmp);
    } finally {
      if (wasRunning) await qmpCommand(c.dir, 'cont');
    }
    const pausedMs = Date.now() - p0;
    // never written again: every copy maps it privately
    await fs.chmod(f(FORK_RAM), 0o400);
    // 2. the copies, a few at once (each is a QEMU restoring and a guest answering REIDENTIFY)
    const makeCopy = async (name: string): Promise<Container> => {
      const machineId = newMachineId();
      const { container: copy, lock: copyLock } = await createContinuation(engine, c.config, { name, hostname: name, machineId, keepNetwork: true });
      try {
        // on the source's networks (same order: the saved guest's NICs), with addresses of its own; no published ports
        const eps = await engine.networks.store.endpointsOf(c.config.id);
        if (eps.length) await engine.networks.attach({ id: copy.config.id, name }, { networks: eps.map((e) => ({ name: e.network.id })), ...(c.config.dns ? { dns: c.config.dns } : {}) });
        await fs.link(f(FORK_RAM), path.join(copy.dir, FORK_RAM));
        if (!c.config.readOnly) {
          await copySparse(f('rw.ext4'), sandboxFiles(copy.dir).rwDisk);
          await fs.chmod(sandboxFiles(copy.dir).rwDisk, 0o600);
        }
        await copyChannelFiles(tmp!, copy.dir);
      } catch (err) {
        await copyLock.release();
        await discard(engine, copy);
        throw err;
      }
      return launchSaved(
        engine,
        copy,
        image,
        { stateFile: f('state'), ramFile: path.join(copy.dir, FORK_RAM), ramBlock, ...(c.state.guestPid ? { guestPid: c.state.guestPid } : {}), identity: { hostname: name, machineId }, network: true },
        copyLock,
      );
    };
    const copies: (Container | undefined)[] = [];
    let failed = false;
    try {
      await forEachBounded(names, FORK_PARALLEL, async (name, i) => {
        if (failed) return; // all or nothing: no new copy once one failed
        try {
          copies[i] = await makeCopy(name);
        } catch (err) {
          failed = true;
          throw err;
        }
      });
    } finally {
      made.push(...copies.filter((x): x is Container => !!x));
    }
    return { containers: made, pausedMs, totalMs: Date.now() - t0 };
  } catch (err) {
    // all or nothing: copies already running are removed
    for (const m of made) await discard(engine, m).catch(() => undefined);
    throw err;
  } finally {
    if (tmp) await fs.rm(tmp, { recursive: true, force: true });
    await lock.release();
  }
}

function checkableForFork(c: Container): void {
  checkable(c);
  if (c.state.status !== 'running' && c.state.status !== 'paused') throw new ConflictError(`cannot fork container ${c.config.name}: it is not running`, 'NOT_RUNNING');
}

const forksDir = (engine: Engine) => path.join(engine.root, 'forks');

/** A migration's scratch checkpoint (migrate.ts): its name, and the names a sweep may remove. */
const SCRATCH_CHECKPOINT_RE = /^migrate-[0-9a-f]{12}$/;
export const scratchCheckpointName = () => `migrate-${randomBytes(6).toString('hex')}`;

/**
 * `<root>/forks/.tmp-*` (forks and outgoing migrations) with an `owner` file: pid, start, and
 * what to undo if the owner dies: the source to resume, a migration's scratch checkpoint.
 */
export async function forkTempDir(engine: Engine, resume: string | undefined, checkpoint?: string): Promise<string> {
  await fs.mkdir(forksDir(engine), { recursive: true, mode: 0o700 });
  const dir = path.join(forksDir(engine), `.tmp-${randomBytes(6).toString('hex')}`);
  await fs.mkdir(dir, { mode: 0o700 });
  await fs.writeFile(path.join(dir, 'owner'), JSON.stringify({ pid: process.pid, start: procStartTime(process.pid), ...(resume ? { resume } : {}), ...(checkpoint ? { checkpoint } : {}) }), { mode: 0o600 });
  return dir;
}

/**
 * Undo what a killed fork left: its helper QEMU, its temp directory, a source it had stopped
 * (resumed), and copies it had not finished (sweepContinuations).
 */
export async function sweepForks(engine: Engine): Promise<void> {
  const names = await fs.readdir(forksDir(engine)).catch(() => [] as string[]);
  for (const name of names) {
    if (!name.startsWith('.tmp-')) continue;
    const dir = path.join(forksDir(engine), name);
    const owner = await fs.readFile(path.join(dir, 'owner'), 'utf8').then((t) => JSON.parse(t) as { pid?: unknown; start?: unknown; resume?: unknown; checkpoint?: unknown }, () => undefined);
    if (owner && typeof owner.pid === 'number' && isProcessAlive(owner.pid, typeof owner.start === 'string' ? owner.start : undefined)) continue;
    for (const pid of await processesRootedAt(dir)) await killMonitor({ pid, pidStart: procStartTime(pid) });
    if (owner && typeof owner.resume === 'string' && /^[0-9a-f]{64}$/.test(owner.resume)) {
      const src = await engine.store.load(owner.resume).catch(() => undefined);
      if (src && src.state.status === 'running' && isProcessAlive(src.state.pid, src.state.pidStart)) {
        const status = await qmpStatus(src.dir);
        if (status === 'paused' || status === 'postmigrate' || status === 'finish-migrate') await qmpCommand(src.dir, 'cont').catch(() => undefined);
      }
    }
    // a migration's scratch checkpoint (migrate.ts), removed once sent
    if (owner && typeof owner.checkpoint === 'string' && SCRATCH_CHECKPOINT_RE.test(owner.checkpoint)) {
      await new Checkpoints(engine).remove(owner.checkpoint).catch(() => undefined);
    }
    await fs.rm(dir, { recursive: true, force: true });
  }
  await sweepContinuations(engine);
}
