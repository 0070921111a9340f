import type { Container } from './container.js';
import type { ContainerStore } from './container-store.js';
import { BackendError, NotFoundError } from './errors.js';
import { mainExit } from './main-exit.js';
import { isProcessAlive, waitProcessGone } from './proc.js';
import { exitedState } from './reconcile.js';
import type { Backend } from '../vm/backend.js';

/** How long a VM may take to power off after its main process exited before it is ended. */
export const POWER_OFF_MS = 10_000;

/**
 * When a container has exited, as Docker means it: when its main process has. The guest's EXIT
 * (in the events file) is recorded as the container's state at once; the VM powers itself off
 * afterwards, off the path of `wait`. Until it is gone the state says exited while its monitor
 * still runs: `settle` deals with that where it matters (rm, a restart).
 */
export class ContainerExits {
  constructor(
    private readonly store: ContainerStore,
    private readonly backendOf: (c: Container) => Backend,
    /** Engine.refresh: records exits of monitors that are gone, removes exited --rm containers. */
    private readonly refresh: (c: Container) => Promise<Container>,
  ) {}

  /** Wait until container `c` has exited; its exit code (from the tombstone if a --rm remover was first). */
  async wait(c: Container, inspect: (id: string) => Promise<Container>, signal?: AbortSignal): Promise<number> {
    const id = c.config.id;
    while (c.state.status === 'running' || c.state.status === 'paused' || (c.state.status === 'created' && isProcessAlive(c.state.pid, c.state.pidStart))) {
      if (signal?.aborted) throw new BackendError('wait aborted', 'ABORTED');
      try {
        if (c.state.status !== 'created' && (await mainExit(c.dir, c.state.pid, c.state.pidStart, { timeoutMs: 1000, ...(signal ? { signal } : {}) }))) {
          c = await this.record(id);
          if (c.state.status === 'exited') void this.afterExit(c);
          continue;
        }
        if (c.state.status === 'created') await waitProcessGone(c.state.pid, c.state.pidStart, 1000);
        c = await inspect(id);
      } catch (err) {
        // a --rm container removed by another reader meanwhile: its tombstone keeps the exit code
        const code = err instanceof NotFoundError ? await this.store.readTombstone(id) : undefined;
        if (code === undefined) throw err;
        return code;
      }
    }
    return c.state.exitCode ?? 0;
  }

  /** Record from the guest's events that a running container exited (its monitor may still be powering off). */
  record(id: string): Promise<Container> {
    return this.store.update(id, async (cur) => {
      if (cur.state.status !== 'running' && cur.state.status !== 'paused') return cur.state;
      return exitedState(cur.dir, cur.state, cur.config.isolation === 'vm' ? 'QEMU' : 'the runc shim');
    });
  }

  /**
   * After the main process of `c` exited: let its VM finish powering off (the guest does it by
   * itself, unmounting its disks), end it if it does not, then remove a --rm container. Runs in
   * the background of the process that saw the exit; a CLI that exits first leaves it to the
   * guest and to the next `refresh`. Never rejects.
   */
  async afterExit(c: Container): Promise<void> {
    try {
      if (!(await waitProcessGone(c.state.pid, c.state.pidStart, POWER_OFF_MS))) await this.backendOf(c).halt(c);
      if (c.config.autoRemove) await this.refresh(await this.store.get(c.config.id));
    } catch {
      // removed meanwhile, or halted by someone else
    }
  }

  /** A monitor still up after its container exited is powering the VM off: wait up to `graceMs` for it, then end it. */
  async settle(c: Container, graceMs: number): Promise<void> {
    if (c.state.status !== 'exited' || !isProcessAlive(c.state.pid, c.state.pidStart)) return;
    if (!(await waitProcessGone(c.state.pid, c.state.pidStart, graceMs))) await this.backendOf(c).halt(c);
  }
}
