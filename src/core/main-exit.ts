import { FrameFileReader } from '../guest/frame-file.js';
import { sandboxFiles } from '../vm/sandbox-files.js';
import { isProcessAlive, waitProcessGone } from './proc.js';
import { applyEvent, type MainOutcome } from './reconcile.js';

export type MainExit = NonNullable<MainOutcome['exit']>;

/**
 * The exit of a sandbox's main process as the guest reports it: its EXIT frame in the events file
 * (written by QEMU, so it is there even if no host process watched). Resolves as soon as it is
 * there — before the VM has powered off — or undefined when the monitor is gone without one,
 * `timeoutMs` passed or `signal` aborted. A container has exited when its main process has (as
 * with Docker); tearing the VM down is not part of that.
 */
export async function mainExit(dir: string, pid: number | undefined, pidStart: string | undefined, opts: { timeoutMs: number; signal?: AbortSignal }): Promise<MainExit | undefined> {
  const deadline = Date.now() + opts.timeoutMs;
  const outcome: MainOutcome = { ready: false };
  const reader = new FrameFileReader(sandboxFiles(dir).events, false);
  const over = () => Date.now() > deadline || !isProcessAlive(pid, pidStart);
  try {
    for await (const e of reader.follow(over, opts.signal)) {
      applyEvent(outcome, e);
      if (outcome.exit) return outcome.exit;
    }
  } catch {
    // a malformed events file: the caller's reconciliation reports it once the monitor is gone
    await waitProcessGone(pid, pidStart, Math.max(0, deadline - Date.now()));
  }
  return undefined;
}
