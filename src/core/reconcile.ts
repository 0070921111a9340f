import { promises as fs } from 'node:fs';
import type { ContainerState } from './container.js';
import { FrameFileReader } from '../guest/frame-file.js';
import { sandboxFiles } from '../vm/sandbox-files.js';

export interface MainOutcome {
  ready: boolean;
  guestPid?: number;
  exit?: { code: number; signal?: number; message?: string };
  error?: { code: number; message: string };
  /** The events file broke the protocol: the sandbox failed, this says where. */
  protocolError?: string;
}

/** What the guest recorded about its main process in the events file. */
export async function readMainOutcome(dir: string): Promise<MainOutcome> {
  const out: MainOutcome = { ready: false };
  const reader = new FrameFileReader(sandboxFiles(dir).events, false);
  try {
    for (const e of await reader.readNew()) applyEvent(out, e);
    if (reader.error) out.protocolError = reader.error.message;
  } catch (err) {
    out.protocolError = (err as Error).message;
  }
  return out;
}

export function applyEvent(out: MainOutcome, e: Awaited<ReturnType<FrameFileReader['readNew']>>[number]): void {
  if (e.kind === 'ready') out.ready = true;
  else if (e.kind === 'started' && e.session === 0) out.guestPid = e.pid;
  else if (e.kind === 'exit' && e.session === 0) out.exit = { code: e.code, ...(e.signal ? { signal: e.signal } : {}), ...(e.message ? { message: e.message } : {}) };
  else if (e.kind === 'error' && e.session === 0) out.error = { code: e.code, message: e.message };
}

/** The final state of a sandbox whose monitor is gone, from the evidence it left. */
export async function exitedState(dir: string, prev: ContainerState, monitorName: string): Promise<ContainerState> {
  const outcome = await readMainOutcome(dir);
  const finishedAt = new Date().toISOString();
  if (outcome.exit && !outcome.protocolError) {
    const error = outcome.error?.message;
    return { ...prev, status: 'exited', exitCode: outcome.exit.code, finishedAt, ...(error ? { error } : {}) };
  }
  const tail = await lastLine(sandboxFiles(dir).stderr);
  const why = outcome.protocolError
    ? `sandbox failed: ${outcome.protocolError}`
    : `${monitorName} (pid ${prev.pid}) exited unexpectedly before the container's process reported an exit status${tail ? `: ${tail}` : ''}`;
  return { ...prev, status: 'exited', exitCode: 255, finishedAt, error: why };
}

async function lastLine(file: string): Promise<string | undefined> {
  const text = await fs.readFile(file, 'utf8').catch(() => '');
  return text.trim().split('\n').pop()?.slice(0, 500) || undefined;
}
