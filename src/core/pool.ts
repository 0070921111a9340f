import { randomBytes } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Container, ContainerConfig } from './container.js';
import { DEFAULT_MEMORY_MIB, type CreateOptions } from './create-spec.js';
import type { Engine } from './engine.js';
import { Lock } from './lock.js';
import { DEFAULT_NETWORK } from './networks.js';
import { isProcessAlive, procStartTime } from './proc.js';
import type { WarmPoolTaker } from './pool-start.js';
import type { ImageRecord } from '../image/types.js';
import { qmpCommand } from '../vm/qemu/checkpoint-vm.js';
import { CtlConnection } from '../guest/ctl-client.js';
import { canRenice, FILL_NICE, setMonitorNice } from './monitor-priority.js';

export interface WarmPoolOptions {
  /** Ready sandboxes kept per image. */
  size: number;
  /** Images to keep sandboxes of (references). */
  images: string[];
  /**
   * The warm-up each sandbox runs in its container root once set up, before it is paused (default
   * `true`; `[]`: none). Under TCG it fills the code cache with what a container's start and exit
   * go through (exec, fork, exit, the agent's own paths), which an adopted sandbox then finds
   * translated. Its output is dropped; it runs as the image's user, in its environment.
   */
  warmup?: string[];
  log?: (line: string) => void;
}

/** How long after a take the refill starts: the request that took a sandbox is served first. */
const REFILL_DELAY_MS = Number(process.env.NESTBOX_POOL_REFILL_MS ?? 1000);
/** PREPARE (root, network, identity, warm-up) of a sandbox being filled. */
const PREPARE_TIMEOUT_MS = 120_000;

/**
 * A warm pool (`nestbox serve --pool N`): per image, N sandboxes restored from its template and
 * prepared (PREPARE: root mounted, network and identity set, a warm-up process run), their agent
 * waiting for RUN, their guest paused. Each is a real container in a hidden state (its config
 * names the server that keeps it; `ps` and the API do not list it). A create that fits adopts
 * one: same id, sandbox directory, writable disk, network endpoint and machine-id, the caller's
 * configuration and name (`ContainerStore.replaceConfig`); its start only resumes the guest and
 * hands it the command (`resumeWarm`). The pool refills in the background at low CPU priority,
 * removes its sandboxes when the server stops, and sweeps those of a server that died (`sweep`).
 */
export class WarmPool implements WarmPoolTaker {
  /** Ready sandbox ids by image id. */
  private readonly ready = new Map<string, string[]>();
  private filling?: Promise<void>;
  private refillTimer?: NodeJS.Timeout;
  /** What is left of adoptions (the network endpoint's rename), by container id. */
  private readonly adopting = new Map<string, Promise<void>>();
  private stopped = false;
  private readonly owner = { pid: process.pid, start: procStartTime(process.pid) };

  constructor(private readonly engine: Engine, private readonly opts: WarmPoolOptions) {}

  /** Sweep what a dead server left, then fill in the background. */
  async start(): Promise<void> {
    await sweepPool(this.engine);
    this.refill();
  }

  /** Resolves when the pool is full (or filling stopped on an error). */
  async whenFilled(): Promise<void> {
    while (this.filling || this.refillTimer) await (this.filling ?? sleep(20));
  }

  /** How many sandboxes are ready, by image id. */
  counts(): Record<string, number> {
    return Object.fromEntries([...this.ready].map(([k, v]) => [k, v.length]));
  }

  /** Only what a pool sandbox is: VM, from a template, default size and network, no mounts. */
  private fits(opts: CreateOptions & { template?: boolean }, image: ImageRecord): boolean {
    return (
      (opts.isolation ?? 'vm') === 'vm' &&
      opts.template !== false &&
      !opts.readOnly &&
      !opts.mounts?.length &&
      (opts.memoryMiB ?? DEFAULT_MEMORY_MIB) === DEFAULT_MEMORY_MIB &&
      (opts.cpus ?? 1) === 1 &&
      onDefaultNetwork(opts) &&
      !opts.ports?.length &&
      !opts.publishAll &&
      !opts.dns?.length &&
      !!this.ready.get(image.id)?.length
    );
  }

  async take(opts: CreateOptions & { template?: boolean }, image: ImageRecord, configFor: (id: string) => Promise<ContainerConfig>): Promise<Container | undefined> {
    if (this.stopped || !this.fits(opts, image)) return undefined;
    const ids = this.ready.get(image.id)!;
    try {
      while (ids.length) {
        const id = ids.shift()!;
        const lock = await Lock.tryAcquire(this.engine.root, `start-${id}`);
        if (!lock) continue;
        try {
          const c = await this.engine.store.load(id);
          if (!c) continue;
          if (!c.config.pool || !c.state.warm || !isProcessAlive(c.state.pid, c.state.pidStart)) {
            await lock.release();
            await this.engine.remove(id, { force: true }).catch(() => undefined);
            continue;
          }
          // its guest already wrote this machine-id (PREPARE): keep it, it is as unique as a new one
          const cfg = await configFor(id);
          const adopted = await this.engine.store.replaceConfig(c, { ...cfg, ...(c.config.machineId ? { machineId: c.config.machineId } : {}) });
          // its endpoint and DNS name follow the new name while the start runs (`adoption`)
          const renaming = this.engine.networks
            .renamed(adopted)
            .catch((err: Error) => this.opts.log?.(`pool: rename the network endpoint of ${adopted.config.name}: ${err.message}`))
            .finally(() => this.adopting.delete(id));
          this.adopting.set(id, renaming);
          if (canRenice()) setMonitorNice(c.state.pid!, 0);
          return adopted;
        } finally {
          await lock.release();
        }
      }
      return undefined;
    } finally {
      this.scheduleRefill();
    }
  }

  adoption(id: string): Promise<void> | undefined {
    return this.adopting.get(id);
  }

  /** Refill soon, not at once: a refill launches and prepares a VM, which would compete with the start that took one. */
  private scheduleRefill(): void {
    if (this.stopped || this.refillTimer) return;
    this.refillTimer = setTimeout(() => {
      this.refillTimer = undefined;
      this.refill();
    }, REFILL_DELAY_MS);
  }

  private refill(): void {
    if (this.stopped || this.filling) return;
    this.filling = this.fillAll().finally(() => (this.filling = undefined));
  }

  private async fillAll(): Promise<void> {
    for (const ref of this.opts.images) {
      const image = await this.engine.images.resolve(ref).catch((err: Error) => void this.opts.log?.(`pool: image ${ref}: ${err.message}`));
      if (!image) continue;
      const ids = this.ready.get(image.id) ?? [];
      this.ready.set(image.id, ids);
      while (!this.stopped && ids.length < this.opts.size) {
        try {
          ids.push(await this.warmOne(ref));
        } catch (err) {
          this.opts.log?.(`pool: could not make a sandbox of ${ref}: ${(err as Error).message}`);
          await sleep(2000);
          break;
        }
      }
    }
  }

  /** A new pool sandbox: created, restored from the template, agent waiting for RUN, guest paused. */
  private async warmOne(ref: string): Promise<string> {
    const c = await this.engine.create({ image: ref, cmd: ['true'], name: `nestbox-pool-${randomBytes(6).toString('hex')}`, pool: this.owner });
    const lock = (await Lock.tryAcquire(this.engine.root, `start-${c.config.id}`))!;
    try {
      const image = await this.engine.images.resolve(c.config.imageId);
      const net = await this.engine.networks.plugIn(c);
      const launched = await this.engine.backend(c).launch(c, image, net);
      let cur = await this.engine.store.saveState(c, { ...c.state, pid: launched.pid, ...(launched.pidStart ? { pidStart: launched.pidStart } : {}), ...(launched.accel ? { accel: launched.accel } : {}), template: launched.template });
      if (canRenice()) setMonitorNice(launched.pid, FILL_NICE);
      // a booted guest (no template) is as good once its agent has said HELLO
      let channel = launched.channel;
      if (!channel) {
        channel = await CtlConnection.open(c.dir, 120_000);
        await channel.hello(120_000);
      }
      try {
        const warmup = this.opts.warmup ?? ['true'];
        await channel.prepare(
          {
            hostname: c.config.hostname,
            readOnly: false,
            ...(c.config.machineId ? { machineId: c.config.machineId } : {}),
            ...(launched.guestNet?.length ? { net: launched.guestNet } : {}),
            ...(warmup.length ? { warmup: { ...c.config.process, args: warmup, tty: false, stdin: false } } : {}),
          },
          PREPARE_TIMEOUT_MS,
        );
      } finally {
        await channel.close();
      }
      await qmpCommand(c.dir, 'stop');
      cur = await this.engine.store.saveState(cur, { ...cur.state, warm: true });
      if (this.stopped) throw new Error('the pool is stopping');
      return cur.config.id;
    } catch (err) {
      await lock.release();
      await this.engine.remove(c.config.id, { force: true }).catch(() => undefined);
      throw err;
    } finally {
      await lock.release();
    }
  }

  /** Stop filling and remove every sandbox of this pool (the server is stopping). */
  async drain(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.refillTimer);
    this.refillTimer = undefined;
    await this.filling?.catch(() => undefined);
    this.ready.clear();
    for (const c of await this.engine.store.list()) {
      if (c.config.pool?.pid === this.owner.pid && c.config.pool.start === this.owner.start) await this.engine.remove(c.config.id, { force: true }).catch(() => undefined);
    }
  }
}

/** A pool sandbox is on the default network with its own address: a create asking for no more fits. */
function onDefaultNetwork(opts: CreateOptions): boolean {
  const n = opts.networks ?? [];
  return n.length === 0 || (n.length === 1 && n[0]!.name === DEFAULT_NETWORK && !n[0]!.ip && !n[0]!.aliases?.length);
}

/** Remove pool sandboxes whose server is gone (killed without draining). */
export async function sweepPool(engine: Engine): Promise<string[]> {
  const removed: string[] = [];
  for (const c of await engine.store.list()) {
    const p = c.config.pool;
    if (!p || isProcessAlive(p.pid, p.start)) continue;
    await engine.remove(c.config.id, { force: true }).then(() => removed.push(c.config.id), () => undefined);
  }
  return removed;
}
