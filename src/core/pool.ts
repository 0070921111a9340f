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

export interface WarmPoolOptions {
  /** Ready sandboxes kept per image. */
  size: number;
  /** Images to keep sandboxes of (references). */
  images: string[];
  log?: (line: string) => void;
}

/**
 * A warm pool (`nestbox serve --pool N`): per image, N sandboxes restored from its template, their
 * agent waiting for RUN, their guest paused. Each is a real container in a hidden state (its
 * config names the server that keeps it; `ps` and the API do not list it). A create that fits
 * adopts one: same id, sandbox directory, writable disk and network endpoint, the caller's
 * configuration and name (`ContainerStore.replaceConfig`); its start only resumes the guest and
 * hands it the command (`resumeWarm`). The pool refills in the background, removes its sandboxes
 * when the server stops, and sweeps those of a server that died (`sweep`).
 */
export class WarmPool implements WarmPoolTaker {
  /** Ready sandbox ids by image id. */
  private readonly ready = new Map<string, string[]>();
  private filling?: Promise<void>;
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
    while (this.filling) await this.filling;
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
          return await this.engine.store.replaceConfig(c, await configFor(id));
        } finally {
          await lock.release();
        }
      }
      return undefined;
    } finally {
      this.refill();
    }
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
      // a booted guest (no template) is as good once its agent has said HELLO
      let channel = launched.channel;
      if (!channel) {
        channel = await CtlConnection.open(c.dir, 120_000);
        await channel.hello(120_000);
      }
      await channel.close();
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
