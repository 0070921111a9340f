import { promises as fs } from 'node:fs';
import type { Container, ContainerState } from './container.js';
import type { ContainerStore } from './container-store.js';
import { BackendError, CommandError, NestboxError } from './errors.js';
import { isProcessAlive, waitProcessGone } from './proc.js';
import { applyEvent, exitedState, type MainOutcome } from './reconcile.js';
import { CtlConnection } from '../guest/ctl-client.js';
import { FrameFileReader } from '../guest/frame-file.js';
import { encode } from '../guest/messages.js';
import type { ImageRecord } from '../image/types.js';
import type { Backend, Launched } from '../vm/backend.js';
import { sandboxFiles } from '../vm/sandbox-files.js';
import type { SandboxNet } from '../net/sandbox-net.js';

export interface StartOptions {
  /** Keep the ctl connection that started the process open (stdin of `run -i`). */
  keepChannel?: boolean;
  /** Initial pty size for `-t`. */
  ttySize?: { rows: number; cols: number };
}

const BOOT_TIMEOUT_MS = Number(process.env.NESTBOX_BOOT_TIMEOUT_MS ?? 120_000);

/**
 * Launch the monitor, hand the guest agent its RUN and wait until the main process runs (or
 * could not be started). On any failure the monitor is halted and the state says why.
 */
export async function startSandbox(
  store: ContainerStore,
  backend: Backend,
  c: Container,
  image: ImageRecord,
  opts: StartOptions,
  net?: SandboxNet,
  /**
   * A sandbox already up whose agent waits for RUN (a warm-pool sandbox, src/core/pool-start.ts),
   * and work of its adoption to finish alongside the guest's RUN.
   */
  prelaunched?: Launched & { alongside?: Promise<void> },
): Promise<{ container: Container; channel?: CtlConnection }> {
  const files = sandboxFiles(c.dir);
  await fs.writeFile(files.events, '', { mode: 0o600 });
  const launched = prelaunched ?? (await backend.launch(c, image, net));
  const launchState: ContainerState = {
    ...c.state,
    status: 'created',
    pid: launched.pid,
    ...(launched.pidStart ? { pidStart: launched.pidStart } : {}),
    ...(launched.accel ? { accel: launched.accel } : {}),
    template: launched.template,
    warm: undefined,
    exitCode: undefined,
    error: undefined,
    finishedAt: undefined,
  };
  // a launch records its monitor before RUN (a start cut short must find it); a warm sandbox's
  // state has it since the pool filled it, so its next write is the running state
  let current = prelaunched ? { ...c, state: launchState } : await store.saveState(c, launchState);
  let channel: CtlConnection | undefined = launched.channel;
  let outcome: MainOutcome;
  const giveUp = new AbortController();
  try {
    if (!channel) {
      channel = await raceMonitor(CtlConnection.open(c.dir, BOOT_TIMEOUT_MS, giveUp.signal), launched, c.dir);
      await raceMonitor(channel.hello(BOOT_TIMEOUT_MS), launched, c.dir);
    }
    channel.send(
      encode.run({
        ...c.config.process,
        ...opts.ttySize,
        stdin: c.config.openStdin,
        hostname: c.config.hostname,
        readOnly: c.config.readOnly,
        ...(c.config.machineId ? { machineId: c.config.machineId } : {}),
        ...(launched.guestMounts?.length ? { mounts: launched.guestMounts } : {}),
        ...(launched.guestNet?.length ? { net: launched.guestNet } : {}),
      }),
    );
    outcome = await waitForStart(c.dir, launched);
    await prelaunched?.alongside;
  } catch (err) {
    giveUp.abort('start failed');
    await channel?.close();
    const monitorDied = !isProcessAlive(launched.pid, launched.pidStart);
    await backend.halt(current);
    const message = monitorDied
      ? `the sandbox monitor exited during start-up${await stderrTail(c.dir)}`
      : err instanceof NestboxError ? err.message : `start: ${(err as Error).message}`;
    await store.saveState(current, { ...current.state, status: 'exited', exitCode: 125, finishedAt: new Date().toISOString(), error: message });
    throw monitorDied || !(err instanceof NestboxError) ? new BackendError(message, 'START_FAILED') : err;
  }
  if (outcome.error || outcome.exit && outcome.guestPid === undefined) {
    await channel.close();
    if (!(await waitProcessGone(launched.pid, launched.pidStart, 10_000))) await backend.halt(current);
    current = await store.saveState(current, await exitedState(c.dir, { ...current.state, status: 'running' }, 'monitor'));
    const code = outcome.error?.code ?? outcome.exit?.code ?? 125;
    const message = outcome.error?.message ?? outcome.exit?.message ?? 'the container process could not be started';
    throw code === 126 || code === 127 ? new CommandError(code, message) : new BackendError(message, 'START_FAILED');
  }
  // not fsynced (it is on the start's path): a power loss that drops it ends the sandbox anyway and
  // leaves it 'created' with its monitor gone, which a start handles
  current = await store.saveState(current, {
    ...current.state,
    status: 'running',
    startedAt: new Date().toISOString(),
    ...(outcome.guestPid ? { guestPid: outcome.guestPid } : {}),
    restartCount: c.state.startedAt ? c.state.restartCount + 1 : c.state.restartCount,
  }, { durable: false });
  if (!opts.keepChannel) {
    await channel.close();
    return { container: current };
  }
  return { container: current, channel };
}

/** Follow the events file until the main process started, failed, or the monitor died. */
async function waitForStart(dir: string, launched: Launched): Promise<MainOutcome> {
  const outcome: MainOutcome = { ready: false };
  let gone = false;
  void launched.exited.then(() => (gone = true));
  const reader = new FrameFileReader(sandboxFiles(dir).events, false);
  for await (const e of reader.follow(() => gone)) {
    applyEvent(outcome, e);
    if (outcome.guestPid !== undefined || outcome.error || outcome.exit) return outcome;
  }
  throw new BackendError(`the sandbox stopped before its process started${await stderrTail(dir)}`, 'START_FAILED');
}

async function raceMonitor<T>(work: Promise<T>, launched: Launched, dir: string): Promise<T> {
  const died = launched.exited.then(async () => {
    throw new BackendError(`the sandbox monitor exited during start-up${await stderrTail(dir)}`, 'START_FAILED');
  });
  return Promise.race([work, died]);
}

async function stderrTail(dir: string): Promise<string> {
  const text = (await fs.readFile(sandboxFiles(dir).stderr, 'utf8').catch(() => '')).trim();
  return text ? `: ${text.split('\n').slice(-3).join(' | ').slice(0, 800)}` : '';
}
