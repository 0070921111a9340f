import { closeSync, openSync, promises as fs } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackendError, NestboxError } from '../../core/errors.js';
import { isProcessAlive, killQuietly, waitProcessGone } from '../../core/proc.js';
import { CtlConnection } from '../../guest/ctl-client.js';
import { encode, type GuestEvent, type Identity } from '../../guest/messages.js';
import { PROTOCOL_VERSION } from '../../guest/protocol.js';
import type { Launched } from '../backend.js';
import { sandboxFiles } from '../sandbox-files.js';
import { spawnMonitor } from '../spawn-monitor.js';
import { qemuCommand, type QemuConfig } from './command.js';
import { QmpClient } from './qmp.js';
import { loadDeviceState } from './snapshot.js';

export interface LoadOptions {
  /** The saved CPU and device state (the guest RAM is `config.ramFile`). */
  stateFile: string;
  /**
   * The saver left shared-file RAM out (x-ignore-shared: templates), or the RAM's pages were taken
   * out of a full stream (checkpoints, forks: ram-split.ts); loader and saver must agree.
   */
  ignoreShared: boolean;
  /** The agent state the resumed guest must report: `prepared` (a template) or `running` (a checkpoint, a fork). */
  expectAgent: 'prepared' | 'running';
  helloTimeoutMs: number;
  /** REIDENTIFY (a checkpoint, a fork), sent once HELLO is answered. */
  identity?: Identity;
  /** Filled with where the time went, ms: spawnMs (to QMP), loadMs (state loaded), resumeMs (`cont`), helloMs, identifyMs. */
  phases?: Record<string, number>;
}

/**
 * A QEMU waiting for its state (`-incoming defer`), its QMP and a ctl connection open and the
 * HELLO sent (it waits in the socket until the guest runs). `load` and `resume` finish the start,
 * `abort` ends it; the caller may do other work in between (a restore fills the writable disk).
 */
export interface Incoming {
  launched: Launched;
  load(): Promise<void>;
  resume(): Promise<Launched & { channel: CtlConnection; loadedMs: number }>;
  abort(): Promise<void>;
}

/**
 * Start QEMU for `config` (its `dir` already holds the writable disk `rw.ext4`, which QEMU does
 * not read before it resumes) waiting for incoming state. QEMU inherits the state file and the
 * writable disk as fds (it reopens the disk on resume, after it dropped to `nobody`). On failure
 * nothing is left running.
 */
export async function spawnIncoming(config: QemuConfig, opts: LoadOptions): Promise<Incoming> {
  const t0 = Date.now();
  const phases = opts.phases ?? {};
  const files = sandboxFiles(config.dir);
  // fds 3, 4, 5 of QEMU: the device state, the writable disk read-only and read-write
  const fds = [openSync(opts.stateFile, 'r'), ...(config.rwDisk ? [openSync(files.rwDisk, 'r'), openSync(files.rwDisk, 'r+')] : [])];
  let launched: Launched;
  try {
    const [command, ...args] = qemuCommand({ ...config, incoming: true, ...(config.rwDisk ? { rwDiskFds: { readOnly: 4, readWrite: 5 } } : {}) });
    launched = spawnMonitor(command!, args, files.stderr, config.dir, fds);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  let qmp: QmpClient | undefined;
  let channel: CtlConnection | undefined;
  let helloReply: Promise<GuestEvent> | undefined;
  const abort = async () => {
    qmp?.close();
    await channel?.close();
    await killMonitor(launched);
  };
  const failed = async (err: unknown): Promise<never> => {
    await abort();
    const tail = (await fs.readFile(files.stderr, 'utf8').catch(() => '')).trim().split('\n').slice(-2).join(' | ');
    // a guest too slow to answer (an overloaded host) says nothing about what was restored
    const slow = err instanceof NestboxError && (err.code === 'GUEST_TIMEOUT' || err.code === 'CHANNEL_BUSY');
    throw new BackendError(`${(err as Error).message}${tail ? ` (QEMU: ${tail})` : ''}`, slow ? 'RESTORE_TIMEOUT' : 'RESTORE_FAILED');
  };
  try {
    qmp = await connectQmp(config.dir, launched);
    // connected before the state is loaded: the loaded serial device tells the guest at once
    // that a host is there, and the HELLO waits in the socket until the guest reads it
    channel = await CtlConnection.open(config.dir, opts.helloTimeoutMs);
    helloReply = channel.next((e) => e.kind === 'hello', opts.helloTimeoutMs);
    helloReply.catch(() => undefined);
    channel.send(encode.hello());
    phases.spawnMs = Date.now() - t0;
  } catch (err) {
    return failed(err);
  }
  let loadedMs = 0;
  return {
    launched,
    abort,
    async load() {
      const t = Date.now();
      try {
        await loadDeviceState(qmp!, 3, 30_000, { ignoreShared: opts.ignoreShared, resume: false });
      } catch (err) {
        return failed(err);
      }
      phases.loadMs = Date.now() - t;
    },
    async resume() {
      let t = Date.now();
      try {
        await qmp!.execute('cont');
        qmp!.close();
        loadedMs = Date.now() - t0;
        phases.resumeMs = Date.now() - t;
        t = Date.now();
        const hello = (await helloReply!) as Extract<GuestEvent, { kind: 'hello' }>;
        if (hello.version !== PROTOCOL_VERSION) throw new BackendError(`guest agent speaks protocol ${hello.version}, host speaks ${PROTOCOL_VERSION}`, 'RESTORE_FAILED');
        if (hello.state !== opts.expectAgent) throw new BackendError(`restored agent is ${hello.state}, not ${opts.expectAgent}`, 'RESTORE_FAILED');
        phases.helloMs = Date.now() - t;
        // only now: the guest answers at once, so the clock it is given is the host's as it is set
        // (sent with the HELLO, it would lag by the guest's first wake-up, 0.1-0.3 s under TCG)
        if (opts.identity) {
          const identified = channel!.next((e) => (e.kind === 'identified' || e.kind === 'error') && e.session === 0, opts.helloTimeoutMs);
          channel!.send(encode.reidentify(opts.identity));
          const e = await identified;
          if (e.kind === 'error') throw new BackendError(`the guest agent refused REIDENTIFY: ${e.message}`, 'RESTORE_FAILED');
          phases.identifyMs = Date.now() - t - phases.helloMs;
        }
      } catch (err) {
        return failed(err);
      }
      return { ...launched, channel: channel!, loadedMs };
    },
  };
}

/**
 * Start QEMU for `config` waiting for incoming state, load `stateFile`, resume the guest and
 * check its agent answers HELLO (and REIDENTIFY, with `identity`). On failure nothing is left
 * running.
 */
export async function launchFromState(config: QemuConfig, opts: LoadOptions): Promise<Launched & { channel: CtlConnection; loadedMs: number }> {
  const incoming = await spawnIncoming(config, opts);
  await incoming.load();
  return incoming.resume();
}

export async function killMonitor(launched: Pick<Launched, 'pid' | 'pidStart'>): Promise<void> {
  if (isProcessAlive(launched.pid, launched.pidStart)) {
    killQuietly(launched.pid, 'SIGKILL');
    await waitProcessGone(launched.pid, launched.pidStart, 5000);
  }
}

/** QEMU creates its QMP socket a few ms after it starts. */
export async function connectQmp(dir: string, launched: Launched, timeoutMs = 5000): Promise<QmpClient> {
  const deadline = Date.now() + timeoutMs;
  let gone = false;
  void launched.exited.then(() => (gone = true));
  for (;;) {
    try {
      return await QmpClient.connect(dir, 'qmp.sock', 2000);
    } catch (err) {
      if (gone || Date.now() > deadline) throw err;
      await sleep(5);
    }
  }
}
