import type { Engine } from '../../core/engine.js';
import { StartHub } from './start-hub.js';
import { ExecSessions } from './exec-sessions.js';

/** Per-server state shared by the Docker routes; everything durable lives in the core. */
export class DockerContext {
  readonly hub = new StartHub();
  readonly execs = new ExecSessions();
  /** HostConfig.ConsoleSize from create, used as the TTY size at start. */
  readonly consoleSizes = new Map<string, { rows: number; cols: number }>();

  constructor(readonly engine: Engine) {}

  /** Close kept guest channels (containers keep running: they are detached monitors). */
  async close(): Promise<void> {
    await Promise.all([...this.hub.channels.values()].map((c) => c.close().catch(() => undefined)));
  }
}

export function flag(q: URLSearchParams, name: string, dflt = false): boolean {
  const v = q.get(name);
  if (v === null || v === '') return dflt;
  return v === '1' || v.toLowerCase() === 'true';
}
