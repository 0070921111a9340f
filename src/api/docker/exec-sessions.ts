import { randomBytes } from 'node:crypto';
import type { ProcessSpec } from '../../guest/messages.js';
import { NotFoundError } from '../../core/errors.js';

/** An exec instance (`POST /containers/{id}/exec`), started later by `POST /exec/{id}/start`. */
export interface ExecSession {
  id: string;
  containerId: string;
  spec: ProcessSpec;
  attach: { stdin: boolean; stdout: boolean; stderr: boolean };
  running: boolean;
  started: boolean;
  exitCode: number | null;
  finishedAt?: number;
  resize?: (rows: number, cols: number) => void;
}

const KEEP_FINISHED_MS = 10 * 60_000;
const MAX_SESSIONS = 1000;

/** Exec instances live in the server's memory, as in dockerd; finished ones are pruned after a while. */
export class ExecSessions {
  private readonly sessions = new Map<string, ExecSession>();

  create(containerId: string, spec: ProcessSpec, attach: ExecSession['attach']): ExecSession {
    this.prune();
    const s: ExecSession = { id: randomBytes(32).toString('hex'), containerId, spec, attach, running: false, started: false, exitCode: null };
    this.sessions.set(s.id, s);
    return s;
  }

  get(id: string): ExecSession {
    const s = this.sessions.get(id) ?? [...this.sessions.values()].find((x) => id.length >= 12 && x.id.startsWith(id));
    if (!s) throw new NotFoundError('exec', id);
    return s;
  }

  private prune(now = Date.now()): void {
    for (const [id, s] of this.sessions) {
      if (s.finishedAt !== undefined && now - s.finishedAt > KEEP_FINISHED_MS) this.sessions.delete(id);
    }
    if (this.sessions.size < MAX_SESSIONS) return;
    for (const [id, s] of this.sessions) if (!s.running) this.sessions.delete(id);
  }
}
