import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Container } from './container.js';
import type { Engine } from './engine.js';
import { ConflictError, NotFoundError } from './errors.js';
import { Lock } from './lock.js';
import { isProcessAlive } from './proc.js';
import { VERSION } from './version.js';
import { CHECKPOINT_FILES, CHECKPOINT_FORMAT, CHECKPOINT_VERSION, CheckpointError, digestFile, digestStable, type CheckpointKind, type CheckpointManifest, type Digest } from './checkpoint-manifest.js';
import { CheckpointStore } from './checkpoint-store.js';
import { DigestCache } from './digest-cache.js';
import { agentVersion, checkForeign, foreignness, hostIdentity } from './checkpoint-identity.js';
import { createContinuation, discard, ramBlockOf, spawnSaved, sweepContinuations, type RamBlock } from './saved-sandbox.js';
import { sandboxFiles } from '../vm/sandbox-files.js';
import { checkPackedDisk, emptyDiskFor, packDisk, qmpCommand, qmpStatus, quitVm, saveFullState, unpackDisk } from '../vm/qemu/checkpoint-vm.js';
import type { VmBackend } from '../vm/qemu/vm-backend.js';

export interface CheckpointCreateOptions {
  /** Keep the container running afterwards (default: it is stopped, as with `docker checkpoint create`). */
  leaveRunning?: boolean;
  /** Only the writable layer: restoring it boots a fresh guest on that filesystem. */
  diskOnly?: boolean;
  /** Full only: leave the guest stopped, neither resumed nor ended (a migration resumes or ends it). */
  keepStopped?: boolean;
  /**
   * The checkpoint lives only until its maker removes it (a migration's, sent and then removed):
   * its files are not forced to the disk, which would only lengthen the guest's stop.
   */
  scratch?: boolean;
}

export interface CheckpointResult {
  manifest: CheckpointManifest;
  /** How long the guest was stopped (full checkpoints), ms. */
  pausedMs?: number;
  totalMs: number;
  /** Where the time went (`NESTBOX_DEBUG=1`): saveMs (state stream and RAM file), hashMs, syncMs; ms. */
  phases: Record<string, number>;
}

/**
 * Checkpoints of VM sandboxes (docs/checkpoints.md): full (memory, CPUs, devices and the writable
 * layer) or disk-only; restore into a new container; export/import as a tar a user can copy.
 */
export class Checkpoints {
  readonly store: CheckpointStore;
  /** Verified digests of checkpoint files, the guest kernel and root disks: a restore hashes only what changed. */
  private readonly digests: DigestCache;

  constructor(private readonly engine: Engine) {
    this.digests = new DigestCache(path.join(engine.root, 'digests'));
    this.store = new CheckpointStore(path.join(engine.root, 'checkpoints'), this.digests);
  }

  /** Undo what killed writers left: temp directories, sources left stopped, half-made containers. */
  async sweep(): Promise<void> {
    for (const owner of await this.store.sweep()) {
      if (typeof owner.resume !== 'string') continue;
      const c = await this.engine.store.load(owner.resume).catch(() => undefined);
      if (!c || c.state.status !== 'running' || !isProcessAlive(c.state.pid, c.state.pidStart)) continue;
      const status = await qmpStatus(c.dir);
      if (status === 'paused' || status === 'postmigrate' || status === 'finish-migrate') await qmpCommand(c.dir, 'cont').catch(() => undefined);
    }
    await sweepContinuations(this.engine);
  }

  async create(ref: string, name: string, opts: CheckpointCreateOptions = {}): Promise<CheckpointResult> {
    const t0 = Date.now();
    await this.sweep();
    if (this.store.exists(name)) throw new ConflictError(`checkpoint ${name} already exists`, 'CHECKPOINT_EXISTS');
    const found = await this.engine.inspect(ref);
    checkable(found);
    const lock = await Lock.tryAcquire(this.engine.root, `start-${found.config.id}`);
    if (!lock) throw new ConflictError(`container ${found.config.name} is being started or removed`, 'ALREADY_STARTING');
    try {
      let c = await this.engine.inspect(found.config.id);
      const live = c.state.status === 'running' || c.state.status === 'paused';
      const kind: CheckpointKind = opts.diskOnly ? 'disk' : 'full';
      if (kind === 'full' && !live) throw new ConflictError(`cannot checkpoint container ${c.config.name}: it is not running (a disk-only checkpoint, --disk-only, works on a stopped one)`, 'NOT_RUNNING');
      if (kind === 'disk' && c.config.readOnly) throw new ConflictError(`container ${c.config.name} is read-only: it has no writable layer to checkpoint`, 'NOT_SUPPORTED');
      const vm = this.engine.backend(c) as VmBackend;
      const image = await this.engine.images.resolve(c.config.imageId);
      const base = await vm.config(c.config.memoryMiB, c.config.cpus, c.dir, image, !c.config.readOnly);
      const [host, rootDisk, agent] = await Promise.all([hostIdentity(base, this.digests), digestStable(base.rootDisk, this.digests), agentVersion(c)]);
      const wasRunning = c.state.status === 'running';
      const tmp = await this.store.tempDir(name, live && wasRunning ? { resume: c.config.id } : {});
      const file = (n: string) => path.join(tmp, n);
      const files = sandboxFiles(c.dir);
      let pausedMs: number | undefined;
      const phases: Record<string, number> = {};
      let ram: { block: RamBlock; digest: Digest } | undefined;
      let ramSynced: Promise<void> | undefined;
      try {
        if (kind === 'full') {
          const p0 = Date.now();
          // the disk and log are copied while the stream is saved: the guest is stopped, its disk flushed
          const copy = async () => {
            const t = Date.now();
            if (!c.config.readOnly) await packDisk(files.rwDisk, file(CHECKPOINT_FILES.disk));
            await copyChannelFiles(c.dir, tmp);
            phases.diskMs = Date.now() - t;
          };
          const saved = await saveFullState(c.dir, file(CHECKPOINT_FILES.state), file(CHECKPOINT_FILES.ram), c.config.memoryMiB * 1024 * 1024, wasRunning, { alongside: copy, writeback: !opts.scratch });
          ram = { block: saved.ramBlock, digest: saved.ramDigest };
          phases.saveMs = saved.ms;
          phases.ramPages = saved.pages;
          phases.stateBytes = saved.stateBytes;
          // its data on its way to the disk while the guest resumes and the rest is hashed
          if (!opts.scratch) {
            ramSynced = syncFile(file(CHECKPOINT_FILES.ram));
            ramSynced.catch(() => undefined);
          }
          if (opts.keepStopped) {
            pausedMs = Date.now() - p0;
          } else if (opts.leaveRunning) {
            if (wasRunning) await qmpCommand(c.dir, 'cont');
            pausedMs = Date.now() - p0;
          } else {
            pausedMs = Date.now() - p0;
            await quitVm(c.dir, c.state.pid, c.state.pidStart);
            c = await this.engine.store.update(c.config.id, (cur) => ({ ...cur.state, status: 'exited', exitCode: 0, finishedAt: new Date().toISOString() }));
          }
        } else if (live && opts.leaveRunning) {
          // the guest's page cache is not on the disk: ask it to sync, then stop it while the disk is copied
          await this.engine.exec(c, { args: ['sync'], env: [], cwd: '/', tty: false, stdin: false }, { onOutput: () => undefined }).catch(() => undefined);
          if (wasRunning) await qmpCommand(c.dir, 'stop');
          try {
            await packDisk(files.rwDisk, file(CHECKPOINT_FILES.disk));
            await copyChannelFiles(c.dir, tmp);
          } finally {
            if (wasRunning) await qmpCommand(c.dir, 'cont');
          }
        } else {
          // the agent syncs and unmounts when the main process exits: the disk is clean after a stop
          if (live) await this.engine.stop(c.config.id);
          await packDisk(files.rwDisk, file(CHECKPOINT_FILES.disk));
          await copyChannelFiles(c.dir, tmp);
        }
        const manifest: CheckpointManifest = {
          format: CHECKPOINT_FORMAT,
          version: CHECKPOINT_VERSION,
          nestboxVersion: VERSION,
          name,
          kind,
          created: new Date().toISOString(),
          source: { id: c.config.id, name: c.config.name },
          container: c.config,
          ...(kind === 'full' && c.state.guestPid ? { guestPid: c.state.guestPid } : {}),
          image: { ref: c.config.image, id: image.id, chainId: image.chainId, rootDisk },
          guest: { ...host, agent },
          memoryMiB: c.config.memoryMiB,
          cpus: c.config.cpus,
          ramBlock: ram?.block ?? ramBlockOf(c),
          files: {},
          ...(pausedMs !== undefined ? { pausedMs } : {}),
        };
        // never changed in place: restores map `ram` (privately), and a changed file is refused
        for (const key of ['state', 'ram', 'disk', 'log', 'events'] as const) await fs.chmod(file(CHECKPOINT_FILES[key]), 0o400).catch(() => undefined);
        let t = Date.now();
        for (const key of ['state', 'ram', 'disk', 'log', 'events'] as const) {
          const f = file(CHECKPOINT_FILES[key]);
          if (key === 'ram') {
            // hashed as it was written (ram-split.ts)
            if (ram) await this.digests.recordWritten(f, (manifest.files.ram = ram.digest), 'ram');
            continue;
          }
          if (!(await fs.stat(f).then(() => true, () => false))) continue;
          const hashStarted = Date.now();
          manifest.files[key] = await digestFile(f);
          await this.digests.record(f, manifest.files[key], hashStarted);
        }
        phases.hashMs = Date.now() - t;
        const mf = file(CHECKPOINT_FILES.manifest);
        await fs.writeFile(mf, JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
        t = Date.now();
        if (!opts.scratch) await Promise.all([ramSynced, ...(await fs.readdir(tmp)).filter((n) => n !== CHECKPOINT_FILES.ram || !ramSynced).map((n) => syncFile(path.join(tmp, n)))]);
        phases.syncMs = Date.now() - t;
        await this.store.commit(tmp, name);
        return { manifest, ...(pausedMs !== undefined ? { pausedMs } : {}), totalMs: Date.now() - t0, phases };
      } finally {
        await fs.rm(tmp, { recursive: true, force: true });
      }
    } finally {
      await lock.release();
    }
  }

  /** Check a checkpoint can be restored here (manifest, host, image, every file's hash); returns its manifest. */
  async check(name: string, manifest?: CheckpointManifest): Promise<CheckpointManifest> {
    const m = manifest ?? (await this.store.manifest(name));
    // independent checks, at once (each throws naming what is wrong)
    const packed = async () => {
      const why = m.files.disk ? await checkPackedDisk(path.join(this.store.pathOf(name), CHECKPOINT_FILES.disk)) : undefined;
      if (why) throw new CheckpointError(`checkpoint ${name}: ${why}`);
    };
    await Promise.all([this.checkCompatible(m, name), this.store.verify(this.store.pathOf(name), m, name), packed()]);
    return m;
  }

  /** Can this host restore checkpoint `m` (its image, guest kernel and agent, QEMU)? Throws naming what differs. */
  async checkCompatible(m: CheckpointManifest, name: string): Promise<void> {
    const image = await this.engine.images.resolve(m.image.id).catch(() => undefined);
    const vm = this.engine.backend({ config: m.container } as Container) as VmBackend;
    const base = image ? await vm.config(m.memoryMiB, m.cpus, '/', image, !m.container.readOnly) : undefined;
    checkForeign(await foreignness(m, image, base, this.digests), name);
  }

  /**
   * A new container continuing checkpoint `name`: its own id, name, sandbox directory and copy of
   * the writable layer. Same hostname and machine-id (it is the same workload continuing); fresh
   * entropy and the host's clock. A full checkpoint resumes its processes; a disk-only one boots.
   */
  async restore(name: string, opts: { name?: string } = {}): Promise<{ container: Container; ms: number; phases: Record<string, number> }> {
    const t0 = Date.now();
    await this.sweep();
    const m = await this.store.manifest(name);
    if (m.kind === 'disk') return this.restoreDisk(name, m, opts, t0);
    const phases: Record<string, number> = {};
    const dir = this.store.pathOf(name);
    const file = (n: keyof typeof CHECKPOINT_FILES) => path.join(dir, CHECKPOINT_FILES[n]);
    // QEMU starts (and waits for the state, reading nothing of it) while the checkpoint is checked
    const checked = this.check(name, m).then(() => void (phases.checkMs = Date.now() - t0));
    checked.catch(() => undefined);
    const image = await this.engine.images.resolve(m.image.id).catch(() => undefined);
    if (!image) await checked; // says which image is missing
    const { container: c, lock } = await createContinuation(this.engine, m.container, opts.name ? { name: opts.name } : {});
    const spawning = (async () => {
      // the writable disk QEMU is given must exist; it is filled once the checkpoint is checked
      if (m.files.disk) await emptyDiskFor(file('disk'), sandboxFiles(c.dir).rwDisk);
      return spawnSaved(this.engine, c, image!, { stateFile: file('state'), ramFile: file('ram'), ramBlock: m.ramBlock, ...(m.guestPid ? { guestPid: m.guestPid } : {}), identity: {} }, lock, phases);
    })();
    const [check, spawn] = await Promise.allSettled([checked, spawning]);
    if (check.status === 'rejected') {
      // the checkpoint's fault is the error to report, whatever QEMU made of it
      if (spawn.status === 'fulfilled') await spawn.value.abort();
      else await discard(this.engine, c).finally(() => lock.release());
      throw check.reason;
    }
    if (spawn.status === 'rejected') {
      await discard(this.engine, c).finally(() => lock.release());
      throw spawn.reason;
    }
    const t = Date.now();
    const fill = (async () => {
      if (m.files.disk) await unpackDisk(file('disk'), sandboxFiles(c.dir).rwDisk, { into: true });
      await copyChannelFiles(dir, c.dir);
      phases.diskMs = Date.now() - t;
    })();
    const running = await spawn.value.finish(fill);
    phases.launchMs = Date.now() - t;
    return { container: running, ms: Date.now() - t0, phases };
  }

  /** A disk-only checkpoint: a new container on a copy of its writable layer, booted. */
  private async restoreDisk(name: string, m: CheckpointManifest, opts: { name?: string }, t0: number): Promise<{ container: Container; ms: number; phases: Record<string, number> }> {
    await this.check(name, m);
    const phases: Record<string, number> = { checkMs: Date.now() - t0 };
    const dir = this.store.pathOf(name);
    const { container: c, lock } = await createContinuation(this.engine, m.container, opts.name ? { name: opts.name } : {});
    try {
      if (m.files.disk) await unpackDisk(path.join(dir, CHECKPOINT_FILES.disk), sandboxFiles(c.dir).rwDisk);
      await copyChannelFiles(dir, c.dir);
      await fs.writeFile(sandboxFiles(c.dir).events, '', { mode: 0o600 });
      await fs.rm(path.join(c.dir, 'filling'), { force: true });
    } catch (err) {
      await lock.release();
      await discard(this.engine, c);
      throw err;
    }
    phases.diskMs = Date.now() - t0 - phases.checkMs!;
    await lock.release();
    const started = await this.engine.start(c.config.id);
    return { container: started.container, ms: Date.now() - t0, phases };
  }

  async list() {
    await this.sweep();
    return this.store.list();
  }

  async remove(name: string): Promise<void> {
    await this.store.remove(name);
  }

  async exportTo(name: string, file: string): Promise<void> {
    await this.store.exportTo(name, path.resolve(file));
  }

  async importFrom(file: string, name?: string): Promise<string> {
    await this.sweep();
    try {
      await fs.access(file);
    } catch {
      throw new NotFoundError('file', file);
    }
    return this.store.importFrom(path.resolve(file), name);
  }
}

/** Only VM sandboxes without volumes can be checkpointed (a volume's state is not the sandbox's). */
export function checkable(c: Container): void {
  if (c.config.isolation !== 'vm') throw new ConflictError(`cannot checkpoint container ${c.config.name}: only VM-isolated containers have their whole state in one place (it uses ${c.config.isolation} isolation)`, 'NOT_SUPPORTED');
  const mounts = (c.config as { mounts?: unknown[] }).mounts;
  if (mounts?.length) throw new ConflictError(`cannot checkpoint container ${c.config.name}: it has volumes or mounts, whose contents live outside the sandbox`, 'NOT_SUPPORTED');
}

/** The log and events files (so `logs` of a restored container continue, and its exit is recorded). */
export async function copyChannelFiles(from: string, to: string): Promise<void> {
  for (const name of [CHECKPOINT_FILES.log, CHECKPOINT_FILES.events]) {
    await fs.copyFile(path.join(from, name), path.join(to, name)).catch((err: NodeJS.ErrnoException) => {
      if (err.code !== 'ENOENT') throw err;
    });
    await fs.chmod(path.join(to, name), 0o600).catch(() => undefined);
  }
}

async function syncFile(file: string): Promise<void> {
  const fh = await fs.open(file, 'r');
  await fh.sync().finally(() => fh.close());
}
