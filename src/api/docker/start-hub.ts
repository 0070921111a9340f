import { setTimeout as sleep } from 'node:timers/promises';
import type { Container } from '../../core/container.js';
import type { Engine } from '../../core/engine.js';
import type { CtlConnection } from '../../guest/ctl-client.js';

/** A client attached to a container that is not running yet (docker CLI attaches before start). */
export interface Attacher {
  stdin: boolean;
  /** Receives the started container and, for the stdin attacher, the kept guest channel. */
  started(c: Container, channel: CtlConnection | undefined): void;
}

const POLL_MS = 250;

/**
 * Meeting point of attach, start and wait inside one server: `start` hands the container (and a
 * stdin channel) to the attachers waiting for it, and `wait` learns that a run began and when the
 * attachers have drained its output. Starts by other front ends are seen by polling the store.
 */
export class StartHub {
  private readonly attachers = new Map<string, Set<Attacher>>();
  private readonly active = new Map<string, number>();
  private readonly drained = new Map<string, Set<() => void>>();
  private readonly startWaiters = new Map<string, Set<() => void>>();
  /** Guest channels kept for stdin, by container id (also used for resize). */
  readonly channels = new Map<string, CtlConnection>();

  /** Register an attacher; the returned function unregisters it (its output is then drained). */
  attach(id: string, a: Attacher): () => void {
    let set = this.attachers.get(id);
    if (!set) this.attachers.set(id, (set = new Set()));
    set.add(a);
    this.active.set(id, (this.active.get(id) ?? 0) + 1);
    let done = false;
    return () => {
      if (done) return;
      done = true;
      set!.delete(a);
      if (set!.size === 0) this.attachers.delete(id);
      const n = (this.active.get(id) ?? 1) - 1;
      if (n > 0) return void this.active.set(id, n);
      this.active.delete(id);
      for (const f of this.drained.get(id) ?? []) f();
      this.drained.delete(id);
    };
  }

  wantsStdin(id: string): boolean {
    return [...(this.attachers.get(id) ?? [])].some((a) => a.stdin);
  }

  /** Called by the start handler once the container runs. */
  started(c: Container, channel: CtlConnection | undefined): void {
    const id = c.config.id;
    let given = false;
    for (const a of this.attachers.get(id) ?? []) {
      const mine = !given && a.stdin && channel !== undefined;
      if (mine) given = true;
      a.started(c, mine ? channel : undefined);
    }
    if (channel && !given) void channel.close();
    for (const f of this.startWaiters.get(id) ?? []) f();
    this.startWaiters.delete(id);
  }

  /** Resolves when a new run of the container begins (here, or by another front end). */
  async nextStart(engine: Engine, id: string, signal: AbortSignal): Promise<void> {
    const first = await engine.store.get(id);
    const before = first.state.startedAt;
    if (first.state.status === 'running' || first.state.status === 'paused') return;
    let woke = false;
    const wake = () => (woke = true);
    let set = this.startWaiters.get(id);
    if (!set) this.startWaiters.set(id, (set = new Set()));
    set.add(wake);
    try {
      while (!woke && !signal.aborted) {
        await sleep(POLL_MS);
        // the store, not engine.inspect: reading must not reconcile (and --rm-remove) under attachers
        const c = await engine.store.get(id);
        if (c.state.status === 'running' || c.state.startedAt !== before) return;
      }
    } finally {
      set.delete(wake);
    }
  }

  /** Resolves when no attacher of the container is streaming any more. */
  async attachersDone(id: string): Promise<void> {
    if (!this.active.get(id)) return;
    await new Promise<void>((resolve) => {
      let set = this.drained.get(id);
      if (!set) this.drained.set(id, (set = new Set()));
      set.add(resolve);
    });
  }
}
