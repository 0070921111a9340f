import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Container, ContainerConfig } from './container.js';
import type { Engine } from './engine.js';
import { BackendError } from './errors.js';
import { Lock } from './lock.js';
import { writeJsonAtomic } from './atomic.js';
import { newContainerId, randomName } from './names.js';
import { isProcessAlive, procStartTime } from './proc.js';
import type { Identity } from '../guest/messages.js';
import type { ImageRecord } from '../image/types.js';
import { sandboxFiles } from '../vm/sandbox-files.js';
import { killMonitor, spawnIncoming, type Incoming } from '../vm/qemu/checkpoint-launch.js';
import type { QemuConfig } from '../vm/qemu/command.js';
import { RESTORED_TB_MIB } from '../vm/qemu/restore.js';
import { vmNics, type VmBackend } from '../vm/qemu/vm-backend.js';
import { guestNetFields } from '../net/sandbox-net.js';

/** In a container directory while a restore, fork or migration fills it: who does (a sweep removes it if they died). */
const FILLING = 'filling';
const HELLO_MS = Number(process.env.NESTBOX_RESTORE_HELLO_MS ?? 20_000);

/**
 * A new container that continues a saved sandbox (a checkpoint, a fork, a migration): a copy of
 * its configuration with a new id and name, created empty (status `created`, marked as being
 * filled) for the caller to put its files in, then started by `launchSaved`.
 */
export async function createContinuation(engine: Engine, from: ContainerConfig, opts: { name?: string; hostname?: string; machineId?: string; keepNetwork?: boolean }): Promise<{ container: Container; lock: Lock }> {
  const id = newContainerId();
  let name = opts.name;
  for (let i = 0; !name && i < 20; i++) {
    const candidate = randomName();
    if (!(await engine.store.nameTaken(candidate))) name = candidate;
  }
  const config: ContainerConfig = {
    ...from,
    id,
    name: name ?? `nestbox_${id.slice(0, 8)}`,
    created: new Date().toISOString(),
    // on no network (its NIC is an unattached tap): the saved guest's addresses are its source's;
    // a fork keeps its source's networks and gets its own addresses there (REIDENTIFY with NET)
    ...(from.networkMode !== undefined && !opts.keepNetwork ? { networkMode: 'none' } : {}),
    ...(opts.hostname ? { hostname: opts.hostname } : {}),
    ...(opts.machineId ? { machineId: opts.machineId } : {}),
  };
  // marked before it is listed at all (a kill -9 right after must not leave a plain `created`
  // container), atomically (a sweep must never find the mark half-written)
  const c = await engine.store.create(config, { status: 'created', restartCount: 0 }, (dir) =>
    writeJsonAtomic(path.join(dir, FILLING), { pid: process.pid, start: procStartTime(process.pid) }, 0o600),
  );
  const lock = (await Lock.tryAcquire(engine.root, `start-${id}`))!;
  return { container: c, lock };
}

export interface SavedState {
  /** The saved stream without the guest RAM's pages (src/vm/qemu/ram-split.ts). */
  stateFile: string;
  /** The guest RAM: this file, mapped privately (copy-on-write: it is never written). */
  ramFile: string;
  /** Name of the saver's RAM block: `ram` (a sandbox restored from a template), `microvm.ram` (booted). */
  ramBlock: RamBlock;
  /** Main process pid in the guest. */
  guestPid?: number;
  identity: Identity;
  /** A fork: the container is on its source's networks and the guest takes its own addresses there (NET in REIDENTIFY). */
  network?: boolean;
}

/**
 * Start `c` (its directory already holds `rw.ext4`, `log`, `events`) from a saved state: QEMU
 * loads it, the guest resumes, REIDENTIFY gives it the clock, fresh entropy and (fork) a new
 * identity, and the container is `running`. On failure the container is removed.
 */
export async function launchSaved(engine: Engine, c: Container, image: ImageRecord, saved: SavedState, lock: Lock, phases: Record<string, number> = {}): Promise<Container> {
  return (await spawnSaved(engine, c, image, saved, lock, phases)).finish();
}

/** A continuation whose QEMU waits for its state (spawnSaved). */
export interface SpawnedSaved {
  /** Load the state while `alongside` runs (e.g. filling the writable disk), resume, and the container runs. */
  finish(alongside?: Promise<unknown>): Promise<Container>;
  /** Give up: the QEMU is ended and the container removed. */
  abort(): Promise<void>;
}

/**
 * The first half of launchSaved: `c`'s QEMU started and waiting for the saved state, which it has
 * not read yet (its writable disk need only exist: it is not read before the guest resumes). A
 * restore starts it while it still checks the checkpoint. On failure the container is removed.
 */
export async function spawnSaved(engine: Engine, c: Container, image: ImageRecord, saved: SavedState, lock: Lock, phases: Record<string, number> = {}): Promise<SpawnedSaved> {
  const failed = async (err: unknown): Promise<never> => {
    await discard(engine, c);
    await lock.release();
    throw err instanceof BackendError ? err : new BackendError(`start container ${c.config.name} from saved state: ${(err as Error).message}`, 'RESTORE_FAILED');
  };
  let base: QemuConfig;
  let incoming: Incoming;
  try {
    const t = Date.now();
    const setup = await savedSandboxSetup(engine, c, image);
    base = setup.config;
    phases.setupMs = Date.now() - t;
    // the RAM file mapped privately under the saver's RAM block name; the stream has no pages for it
    incoming = await spawnIncoming(
      { ...base, ramFile: { path: saved.ramFile, share: false, id: saved.ramBlock }, ...(base.accel === 'tcg' ? { tbMiB: RESTORED_TB_MIB } : {}) },
      {
        stateFile: saved.stateFile,
        ignoreShared: false,
        expectAgent: 'running',
        helloTimeoutMs: HELLO_MS,
        identity: { ...saved.identity, ...(saved.network && setup.guestNet.length ? { net: setup.guestNet } : {}) },
        phases,
      },
    );
  } catch (err) {
    return failed(err);
  }
  return {
    async abort() {
      await incoming.abort();
      await discard(engine, c);
      await lock.release();
    },
    async finish(alongside) {
      try {
        // both settled before anything is undone (the other may still be writing in the directory)
        const [loaded, other] = await Promise.allSettled([incoming.load(), alongside]);
        if (loaded.status === 'rejected') throw loaded.reason;
        if (other.status === 'rejected') throw other.reason;
        const launched = await incoming.resume();
        await launched.channel.close();
        const running = await engine.store.saveState(c, {
          status: 'running',
          pid: launched.pid,
          ...(launched.pidStart ? { pidStart: launched.pidStart } : {}),
          accel: base.accel,
          startedAt: new Date().toISOString(),
          ...(saved.guestPid ? { guestPid: saved.guestPid } : {}),
          restartCount: 0,
        });
        await fs.rm(path.join(c.dir, FILLING), { force: true });
        await lock.release();
        return running;
      } catch (err) {
        await incoming.abort();
        return failed(err);
      }
    },
  };
}

/**
 * The QEMU configuration of a sandbox that loads a saved state: the same function and devices as
 * a started one (a saved state only loads into a QEMU with the saver's device set), with its NIC.
 * A continuation is on no network: its one NIC is an unattached tap, as with `--network none`.
 */
export async function savedSandboxConfig(engine: Engine, c: Container, image: ImageRecord): Promise<QemuConfig> {
  return (await savedSandboxSetup(engine, c, image)).config;
}

/** savedSandboxConfig, and the NET fields of its networks (empty on none). */
async function savedSandboxSetup(engine: Engine, c: Container, image: ImageRecord): Promise<{ config: QemuConfig; guestNet: string[] }> {
  const vm = engine.backend(c) as VmBackend;
  const net = await engine.networks.plugIn(c);
  const config = { ...(await vm.config(c.config.memoryMiB, c.config.cpus, c.dir, image, !c.config.readOnly)), ...vmNics(net) };
  return { config, guestNet: net?.nics.length ? guestNetFields(net) : [] };
}

/** Remove a continuation that did not start (its QEMU, if any, is ended). */
export async function discard(engine: Engine, c: Container): Promise<void> {
  const cur = (await engine.store.load(c.config.id)) ?? c;
  if (isProcessAlive(cur.state.pid, cur.state.pidStart)) await killMonitor({ pid: cur.state.pid!, pidStart: cur.state.pidStart });
  // a QEMU whose pid was never recorded (its starter was killed): it is chrooted in the directory
  for (const pid of await processesRootedAt(cur.dir)) await killMonitor({ pid, pidStart: procStartTime(pid) });
  await engine.networks.remove(cur).catch(() => undefined);
  await engine.store.delete(cur);
}

/** Containers a killed restore, fork or migration left half-filled: removed (with any QEMU they started). */
export async function sweepContinuations(engine: Engine): Promise<void> {
  for (const c of await engine.store.list()) {
    if (c.state.status !== 'created') continue;
    const text = await fs.readFile(path.join(c.dir, FILLING), 'utf8').catch(() => undefined);
    if (text === undefined) continue; // not a continuation being filled: a plain `create`
    let owner: { pid?: unknown; start?: unknown } | undefined;
    try {
      owner = JSON.parse(text) as typeof owner;
    } catch {
      owner = undefined; // unreadable (written by an older nestbox, non-atomically): judged by its lock below
    }
    if (owner && typeof owner.pid === 'number' && isProcessAlive(owner.pid, typeof owner.start === 'string' ? owner.start : undefined)) continue;
    if (!owner) {
      // its filler holds the container's start lock for as long as it lives
      const lock = await Lock.tryAcquire(engine.root, `start-${c.config.id}`);
      if (!lock) continue;
      await lock.release();
    }
    await discard(engine, c).catch(() => undefined);
  }
}

export type RamBlock = 'ram' | 'microvm.ram';
/** The RAM block name of a running sandbox: templates name their backend `ram`; a booted guest has QEMU's default. */
export const ramBlockOf = (c: Container): RamBlock => (c.state.template ? 'ram' : 'microvm.ram');

export const newMachineId = () => randomBytes(16).toString('hex');

/** Pids of processes whose root directory is `dir` (QEMU chroots into its sandbox directory). */
export async function processesRootedAt(dir: string): Promise<number[]> {
  const out: number[] = [];
  for (const name of await fs.readdir('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const root = await fs.readlink(`/proc/${name}/root`).catch(() => undefined);
    if (root === dir) out.push(Number(name));
  }
  return out;
}
