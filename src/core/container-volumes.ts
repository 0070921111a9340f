/**
 * The link between containers and volumes: volumes a container names are created on first use
 * (as `docker run -v name:/p` does), anonymous ones with it; a volume is "in use" while any
 * container names it; an ext4 volume is mounted read-write by one running container at a time
 * (two kernels writing one ext4 file system would corrupt it), read-only by any number.
 */
import type { Container } from './container.js';
import type { ContainerStore } from './container-store.js';
import { ConflictError } from './errors.js';
import { Lock } from './lock.js';
import { checkMounts, type MountSpec } from './mount-spec.js';
import { isProcessAlive } from './proc.js';
import type { VolumeStore } from './volumes.js';
import { checkBindSource } from '../vm/mount-plan.js';

export class ContainerVolumes {
  constructor(
    readonly volumes: VolumeStore,
    private readonly store: ContainerStore,
    private readonly lockScope: string,
  ) {}

  /** Check a create's mounts and create the volumes they name that do not exist yet. */
  async prepare(mounts: readonly MountSpec[] | undefined): Promise<MountSpec[]> {
    const list = [...(mounts ?? [])];
    checkMounts(list);
    for (const m of list) {
      if (m.type === 'bind') checkBindSource(m.source);
      if (m.type === 'volume') await this.volumes.create(m.source, m.anonymous ? { anonymous: true } : {});
    }
    return list;
  }

  /** IDs of the containers (in any state) that name volume `name`. */
  async users(name: string): Promise<string[]> {
    return (await this.store.list()).filter((c) => c.config.mounts?.some((m) => m.type === 'volume' && m.source === name)).map((c) => c.config.id);
  }

  /**
   * Run `start` holding the locks of `c`'s ext4 volumes, after checking no other running
   * container has one of them read-write (or has it at all, when `c` writes to it).
   */
  async whileStarting<T>(c: Container, start: () => Promise<T>): Promise<T> {
    const mine = (c.config.mounts ?? []).filter((m): m is Extract<MountSpec, { type: 'volume' }> => m.type === 'volume');
    const blocks: typeof mine = [];
    for (const m of mine) if ((await this.volumes.source(m.source)).kind === 'block') blocks.push(m);
    if (blocks.length === 0) return start();
    const locks: Lock[] = [];
    try {
      for (const name of [...new Set(blocks.map((m) => m.source))].sort()) locks.push(await Lock.acquire(this.lockScope, `volume:${name}`, 120_000));
      const others = (await this.store.list()).filter((o) => o.config.id !== c.config.id && (o.state.status === 'running' || o.state.status === 'paused' || o.state.status === 'created') && isProcessAlive(o.state.pid, o.state.pidStart));
      for (const m of blocks) {
        for (const o of others) {
          const theirs = o.config.mounts?.find((x) => x.type === 'volume' && x.source === m.source);
          if (theirs && (!theirs.readOnly || !m.readOnly)) {
            throw new ConflictError(
              `volume ${m.source} is mounted ${theirs.readOnly ? 'read-only' : 'read-write'} by running container ${o.config.name}: an ext4 volume can be written by one container at a time (mount it :ro in both, or stop ${o.config.name})`,
              'VOLUME_BUSY',
            );
          }
        }
      }
      return await start();
    } finally {
      for (const l of locks) await l.release();
    }
  }

  /** Remove the anonymous volumes of a removed container (`rm -v`, `--rm`), unless another uses them. */
  async removeAnonymous(c: Container): Promise<void> {
    for (const m of c.config.mounts ?? []) {
      if (m.type !== 'volume' || !m.anonymous) continue;
      await this.volumes.remove(m.source, (n) => this.users(n)).catch(() => undefined);
    }
  }
}
