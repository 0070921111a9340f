import { promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import * as path from 'node:path';
import type { Writable } from 'node:stream';
import type { Container, ContainerState, Isolation } from './container.js';
import { shortId } from './container.js';
import { ContainerStore } from './container-store.js';
import { processSpecFor, DEFAULT_MEMORY_MIB, type CreateOptions } from './create-spec.js';
import { CommandError, ConflictError, InvalidArgumentError } from './errors.js';
import { Lock } from './lock.js';
import { newContainerId, randomName } from './names.js';
import { isProcessAlive, waitProcessGone } from './proc.js';
import { ContainerExits, POWER_OFF_MS } from './container-exit.js';
import { resolveRoot, storePaths } from './paths.js';
import { startSandbox, type StartOptions } from './start.js';
import { openImageStore, type Images } from './images.js';
import { isDefaultImageRef } from '../image/default-image.js';
import type { SaveOptions } from '../image/save.js';
import type { Backend } from '../vm/backend.js';
import { VmBackend } from '../vm/qemu/vm-backend.js';
import { ProcessBackend } from '../vm/process/process-backend.js';
import { sandboxFiles } from '../vm/sandbox-files.js';
import type { CtlConnection } from '../guest/ctl-client.js';
import { execInSandbox, sendSignal, type ExecIO, type ExecResult } from './channel-ops.js';
import type { ProcessSpec } from '../guest/messages.js';
import { resolveUser } from '../vm/process/passwd.js';
import { VolumeStore } from './volumes.js';
import { ContainerVolumes } from './container-volumes.js';
import { ContainerNetworks } from './network-attach.js';
import { resumeWarm, type WarmPoolTaker } from './pool-start.js';
import type { ContainerConfig } from './container.js';
import type { ImageRecord } from '../image/types.js';
import type { MountSpec } from './mount-spec.js';
import { exposedPorts } from './network-ports.js';

export interface EngineOptions {
  root?: string;
}

/**
 * The one core behind every front end (CLI, API, SDK, OCI runtime): containers and their
 * lifecycle. It imports no HTTP and no CLI code. Each action checks the states it is legal in.
 */
export class Engine {
  readonly root: string;
  readonly store: ContainerStore;
  readonly images: Images;
  readonly volumes: VolumeStore;
  private readonly mountUse: ContainerVolumes;
  readonly networks: ContainerNetworks;
  private readonly backends: Record<Isolation, Backend>;
  private readonly vm: VmBackend;
  /** The warm pool a create takes a ready sandbox from (set by `nestbox serve --pool`). */
  pool?: WarmPoolTaker;
  private readonly exits: ContainerExits;

  constructor(opts: EngineOptions = {}) {
    this.root = resolveRoot(opts.root);
    this.store = new ContainerStore(this.root);
    this.images = openImageStore(storePaths(this.root).images);
    this.volumes = new VolumeStore(this.root);
    this.mountUse = new ContainerVolumes(this.volumes, this.store, this.root);
    this.networks = new ContainerNetworks(this.root);
    this.vm = new VmBackend(this.images, path.join(this.root, 'templates'), this.volumes);
    this.backends = { vm: this.vm, process: new ProcessBackend(this.images, this.volumes) };
    this.exits = new ContainerExits(this.store, (c) => this.backends[c.config.isolation], (c) => this.refresh(c));
  }

  backend(c: Container): Backend {
    return this.backends[c.config.isolation];
  }

  async create(opts: CreateOptions & { template?: boolean; pool?: ContainerConfig['pool'] }): Promise<Container> {
    const isolation = opts.isolation ?? 'vm';
    if (isolation !== 'vm' && isolation !== 'process') {
      throw new InvalidArgumentError(`invalid isolation "${String(isolation)}": use vm or process`);
    }
    const image = await this.images.resolve(opts.image);
    const process = processSpecFor(image, opts);
    ContainerNetworks.check(opts);
    // a ready sandbox of the warm pool (nestbox serve --pool) becomes this container
    const warm = !opts.pool && this.pool ? await this.pool.take(opts, image, (id) => this.configFor(opts, image, id, process, [])) : undefined;
    if (warm) return warm;
    const mounts = await this.mountUse.prepare(opts.mounts);
    const id = newContainerId();
    const c = await this.store.create(await this.configFor(opts, image, id, process, mounts), { status: 'created', restartCount: 0 });
    try {
      const ports = [...(opts.ports ?? []), ...(opts.publishAll ? exposedPorts(image.config.ExposedPorts) : [])];
      await this.networks.attach({ id, name: c.config.name }, { ...opts, ports });
      await this.backends[isolation].prepare(c, image);
    } catch (err) {
      await this.networks.remove(c).catch(() => undefined);
      await this.store.delete(c);
      throw err;
    }
    return c;
  }

  /** The configuration `create` writes for `opts` (also what a warm-pool sandbox is given when a create adopts it). */
  private async configFor(opts: CreateOptions & { template?: boolean; pool?: ContainerConfig['pool'] }, image: ImageRecord, id: string, process: ProcessSpec, mounts: MountSpec[]): Promise<ContainerConfig> {
    const isolation = opts.isolation ?? 'vm';
    const name = opts.name ?? (await this.freeName());
    return {
      id,
      name,
      created: new Date().toISOString(),
      image: opts.image,
      imageId: image.id,
      isolation,
      hostname: opts.hostname ?? shortId(id),
      process,
      path: process.args[0]!,
      readOnly: opts.readOnly ?? false,
      memoryMiB: opts.memoryMiB ?? DEFAULT_MEMORY_MIB,
      cpus: opts.cpus ?? 1,
      ...(opts.memoryMiB !== undefined || opts.nanoCpus !== undefined
        ? { limits: { ...(opts.memoryMiB !== undefined ? { memoryMiB: opts.memoryMiB } : {}), ...(opts.nanoCpus !== undefined ? { nanoCpus: opts.nanoCpus } : {}) } }
        : {}),
      autoRemove: opts.autoRemove ?? false,
      openStdin: opts.openStdin ?? false,
      machineId: randomBytes(16).toString('hex'),
      ...(opts.template === false ? { template: false } : {}),
      ...(mounts.length ? { mounts } : {}),
      networkMode: opts.networks?.[0]?.name ?? 'bridge',
      ...(opts.dns?.length ? { dns: opts.dns } : {}),
      ...(opts.pool ? { pool: opts.pool } : {}),
    };
  }

  private async freeName(): Promise<string> {
    for (let i = 0; i < 20; i++) {
      const name = randomName();
      if (!(await this.store.nameTaken(name))) return name;
    }
    return `nestbox_${newContainerId().slice(0, 8)}`;
  }

  /**
   * Boot the sandbox and start its main process. Resolves once the process runs. With
   * `keepChannel`, the guest channel used to start it stays open (for stdin of `run -i`).
   */
  async start(ref: string, opts: StartOptions = {}): Promise<{ container: Container; channel?: CtlConnection }> {
    const found = await this.inspect(ref);
    const lock = await Lock.tryAcquire(this.root, `start-${found.config.id}`);
    if (!lock) throw new ConflictError(`container ${found.config.name} is already being started`, 'ALREADY_STARTING');
    try {
      const c = await this.inspect(found.config.id);
      if (c.state.status === 'running' || c.state.status === 'paused') {
        if (opts.keepChannel) throw new ConflictError(`container ${c.config.name} is already running`, 'ALREADY_RUNNING');
        return { container: c };
      }
      // a restart: the VM of the last run may still be powering off (its disks are unmounted then)
      await this.exits.settle(c, POWER_OFF_MS);
      // a warm-pool sandbox a create adopted: its QEMU is up and paused, its agent waits for RUN
      const warm = c.state.warm && !c.config.pool && isProcessAlive(c.state.pid, c.state.pidStart) ? await resumeWarm(this, c).catch(() => undefined) : undefined;
      // we hold the start lock, so a live monitor of a 'created' container is an orphan of a
      // start that was interrupted (CLI killed mid-boot): end it before launching another
      if (!warm && isProcessAlive(c.state.pid, c.state.pidStart)) await this.backends[c.config.isolation].halt(c);
      const image = await this.images.resolve(c.config.imageId);
      // a warm sandbox's devices are up since the pool filled it (resumeWarm described them)
      const net = warm ? undefined : await this.networks.plugIn(c);
      const prelaunched = warm ? { ...warm, ...(this.pool?.adoption(c.config.id) ? { alongside: this.pool.adoption(c.config.id) } : {}) } : undefined;
      return await this.mountUse.whileStarting(c, () => startSandbox(this.store, this.backends[c.config.isolation], c, image, opts, net, prelaunched));
    } finally {
      await lock.release();
    }
  }

  /** The container with its state reconciled against what is really running. */
  async inspect(ref: string): Promise<Container> {
    return this.refresh(await this.store.get(ref));
  }

  async list(opts: { all?: boolean } = {}): Promise<Container[]> {
    const refreshed = await Promise.all((await this.store.list()).map((c) => this.refresh(c).catch(() => c)));
    const all = refreshed.filter((c) => !(c.config.autoRemove && c.state.status === 'exited'));
    // a container a restore, fork or migration is still filling (or whose filler died) is not one yet
    const filling = await Promise.all(all.map((c) => (c.state.status === 'created' ? fs.access(path.join(c.dir, 'filling')).then(() => true, () => false) : false)));
    const user = all.filter((c, i) => !c.config.pool && !filling[i]);
    const shown = opts.all ? user : user.filter((c) => c.state.status === 'running' || c.state.status === 'paused');
    return shown.sort((a, b) => b.config.created.localeCompare(a.config.created));
  }

  /** If the monitor of a running sandbox is gone, record how it ended. */
  async refresh(c: Container): Promise<Container> {
    // --rm: whoever first sees the container exited and its VM gone removes it (there is no daemon to do it)
    if (c.state.status === 'exited' && c.config.autoRemove && !isProcessAlive(c.state.pid, c.state.pidStart)) {
      await this.removeExited(c).catch(() => undefined);
      return c;
    }
    if (c.state.status !== 'running' && c.state.status !== 'paused') return c;
    if (isProcessAlive(c.state.pid, c.state.pidStart)) return c;
    const done = await this.exits.record(c.config.id);
    if (done.config.autoRemove) await this.removeExited(done).catch(() => undefined);
    return done;
  }

  private async removeExited(c: Container): Promise<void> {
    await this.store.writeTombstone(c);
    await this.backends[c.config.isolation].destroy(c);
    await this.networks.remove(c);
    await this.store.delete(c);
    await this.mountUse.removeAnonymous(c);
  }

  /** IDs of the containers that name volume `name` (it cannot be removed while there are any). */
  volumeUsers(name: string): Promise<string[]> {
    return this.mountUse.users(name);
  }

  /** The exit code of an auto-removed (--rm) container, by full id, while its tombstone lasts. */
  async removedExitCode(id: string): Promise<number | undefined> {
    return /^[0-9a-f]{64}$/.test(id) ? this.store.readTombstone(id) : undefined;
  }

  /** End the sandbox's monitor without the guest's help (an interrupted start, a stuck VM). */
  async halt(ref: string): Promise<void> {
    const c = await this.store.get(ref);
    if (isProcessAlive(c.state.pid, c.state.pidStart)) await this.backends[c.config.isolation].halt(c);
  }

  /**
   * Wait for the container to exit; returns its exit code. It has exited when its main process has:
   * the guest's EXIT is recorded as the container's state at once, and the VM's power-off goes on
   * in the background (container-exit.ts).
   */
  async wait(ref: string, signal?: AbortSignal): Promise<number> {
    return this.exits.wait(await this.inspect(ref), (id) => this.inspect(id), signal);
  }

  async kill(ref: string, signal: number): Promise<void> {
    const c = await this.inspect(ref);
    if (c.state.status !== 'running' && c.state.status !== 'paused') {
      throw new ConflictError(`cannot kill container ${c.config.name}: it is not running`, 'NOT_RUNNING');
    }
    await signalMain(await this.resumeIfPaused(c), signal, this.backends[c.config.isolation]);
  }

  /** Freeze the sandbox: every guest CPU stops, memory stays (`docker pause`). */
  async pause(ref: string): Promise<Container> {
    const c = await this.inspect(ref);
    if (c.state.status === 'paused') throw new ConflictError(`container ${c.config.name} is already paused`, 'ALREADY_PAUSED');
    if (c.state.status !== 'running') throw new ConflictError(`cannot pause container ${c.config.name}: it is not running`, 'NOT_RUNNING');
    const backend = this.backends[c.config.isolation];
    if (!backend.pause) throw new ConflictError(`cannot pause container ${c.config.name}: pause is not supported for ${c.config.isolation} isolation`, 'NOT_SUPPORTED');
    await backend.pause(c);
    return this.store.update(c.config.id, (cur) => (cur.state.status === 'running' ? { ...cur.state, status: 'paused' } : cur.state));
  }

  /** Let a paused sandbox run again. */
  async unpause(ref: string): Promise<Container> {
    const c = await this.inspect(ref);
    if (c.state.status !== 'paused') throw new ConflictError(`container ${c.config.name} is not paused`, 'NOT_PAUSED');
    return this.resumeIfPaused(c);
  }

  /** A paused VM cannot take a signal: stop, kill and exec-free paths resume it first (as Docker does). */
  private async resumeIfPaused(c: Container): Promise<Container> {
    if (c.state.status !== 'paused') return c;
    await this.backends[c.config.isolation].resume?.(c);
    return this.store.update(c.config.id, (cur) => (cur.state.status === 'paused' ? { ...cur.state, status: 'running' } : cur.state));
  }

  /** SIGTERM (or the image's stop signal), then SIGKILL after `timeoutSec`, then halt the VM. */
  async stop(ref: string, timeoutSec = 10): Promise<void> {
    const c = await this.resumeIfPaused(await this.inspect(ref));
    if (c.state.status !== 'running' && c.state.status !== 'paused') return;
    const backend = this.backends[c.config.isolation];
    await signalMain(c, 15, backend).catch(() => undefined);
    if (await waitProcessGone(c.state.pid, c.state.pidStart, timeoutSec * 1000)) return void (await this.refresh(c));
    await signalMain(c, 9, backend).catch(() => undefined);
    if (!(await waitProcessGone(c.state.pid, c.state.pidStart, 3000))) await backend.halt(c);
    await this.refresh(c);
  }

  /** `volumes`: also remove the container's anonymous volumes (`rm -v`; always with --rm). */
  async remove(ref: string, opts: { force?: boolean; volumes?: boolean } = {}): Promise<Container> {
    const found = await this.inspect(ref);
    const lock = await this.holdStartLock(found, opts.force ?? false);
    try {
      const c = await this.inspect(found.config.id);
      // exited, its VM still powering off: no need to wait for that, its disk goes too
      if (c.state.status === 'exited') await this.exits.settle(c, 0);
      const live = isProcessAlive(c.state.pid, c.state.pidStart);
      if (live && !opts.force) {
        throw new ConflictError(`cannot remove container ${c.config.name}: it is ${c.state.status === 'created' ? 'starting' : c.state.status}; stop it first or use rm -f`, 'CONTAINER_RUNNING');
      }
      const backend = this.backends[c.config.isolation];
      if (live) await backend.halt(c);
      await this.pool?.adoption(c.config.id); // a rename of its endpoint must not outlive the endpoint
      await this.store.update(c.config.id, (cur) => ({ ...cur.state, status: 'removing' } as ContainerState));
      await backend.destroy(c);
      await this.networks.remove(c);
      await this.store.delete(c);
      if (opts.volumes || c.config.autoRemove) await this.mountUse.removeAnonymous(c);
      return c;
    } finally {
      await lock.release();
    }
  }

  /**
   * `rm` must not race a start in another process (which could launch a VM after the directory
   * is gone): take the start lock. With force, end what that start launched so it gives up.
   */
  private async holdStartLock(c: Container, force: boolean): Promise<Lock> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const lock = await Lock.tryAcquire(this.root, `start-${c.config.id}`);
      if (lock) return lock;
      if (!force) throw new ConflictError(`cannot remove container ${c.config.name}: it is starting; use rm -f`, 'CONTAINER_RUNNING');
      if (Date.now() > deadline) throw new ConflictError(`cannot remove container ${c.config.name}: its start did not give up within 60 s`, 'LOCK_TIMEOUT');
      await this.halt(c.config.id).catch(() => undefined);
      await new Promise((r) => setTimeout(r, 100));
    }
  }

  /** Run a process inside the running sandbox (an exec session; no new VM). */
  async exec(ref: string | Container, spec: ProcessSpec, io: ExecIO): Promise<ExecResult> {
    const c = typeof ref === 'string' ? await this.inspect(ref) : await this.refresh(ref);
    if (c.state.status === 'paused') throw new ConflictError(`container ${c.config.name} is paused, unpause the container before exec`, 'CONTAINER_PAUSED');
    if (c.state.status !== 'running') throw new ConflictError(`container ${c.config.name} is not running`, 'NOT_RUNNING');
    let s = spec;
    if (c.config.isolation === 'process' && spec.user) {
      // runc takes numeric ids only: resolve names against the image's passwd/group
      const u = await resolveUser(await this.images.rootfsDir(await this.images.resolve(c.config.imageId)), spec.user);
      s = { ...spec, user: `${u.uid}:${u.gid}` };
    }
    return execInSandbox(c.dir, s, io);
  }

  /** `rmi`: refused while a container (of any state) uses the image, unless forced. */
  async removeImage(ref: string, force: boolean) {
    const used = await this.imageUseCounts();
    return this.images.remove(ref, { force, isUsed: (id) => used.has(id) });
  }

  /** `image prune`: images no container (of any state) uses — dangling ones unless `all` — then unneeded files. */
  async pruneImages(all: boolean) {
    const used = await this.imageUseCounts();
    return this.images.prune({ all, isUsed: (id) => used.has(id) });
  }

  /** How many containers (of any state) use each image, by image ID. */
  async imageUseCounts(): Promise<Map<string, number>> {
    const counts = new Map<string, number>();
    for (const c of await this.store.list()) counts.set(c.config.imageId, (counts.get(c.config.imageId) ?? 0) + 1);
    return counts;
  }

  /** `tag`: the embedded default image counts as present, as it does for `run`. */
  async tagImage(src: string, target: string) {
    await this.images.resolve(src);
    return this.images.tag(src, target);
  }

  /** `save` to a file or stream; the embedded default image counts as present, as it does for `run`. */
  async saveImages(refs: string[], dest: string | Writable, options: SaveOptions = {}): Promise<void> {
    for (const ref of refs) if (isDefaultImageRef(ref)) await this.images.resolve(ref);
    await this.images.save(refs, dest, options);
  }

  /** VM templates (`nestbox template ls`). */
  listTemplates() {
    return this.vm.templates.list();
  }

  /** Build (or rebuild) the VM template of an image for a VM size, as the first run would. */
  async createTemplate(ref: string, opts: { memoryMiB?: number; cpus?: number } = {}) {
    const image = await this.images.resolve(ref);
    return this.vm.createTemplate(ref, image, opts.memoryMiB ?? DEFAULT_MEMORY_MIB, opts.cpus ?? 1);
  }

  /** Remove templates by key (or unique prefix), or every template of an image; returns the keys removed. */
  async removeTemplates(ref: string): Promise<string[]> {
    const imageId = await this.images.resolve(ref).then((i) => i.id, () => undefined);
    const keys = await this.vm.templates.resolve(ref, imageId);
    await this.vm.templates.remove(keys);
    return keys;
  }

  /** Size of the container's log in bytes (for inspect). */
  async logSize(c: Container): Promise<number> {
    return (await fs.stat(sandboxFiles(c.dir).log).catch(() => ({ size: 0 }))).size;
  }
}

async function signalMain(c: Container, signal: number, backend: Backend): Promise<void> {
  try {
    await sendSignal(c.dir, 0, signal);
  } catch (err) {
    if (signal === 9) await backend.halt(c);
    else throw err;
  }
}
