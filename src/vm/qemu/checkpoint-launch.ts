import { closeSync, openSync, promises as fs } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackendError } from '../../core/errors.js';
import { isProcessAlive, killQuietly, waitProcessGone } from '../../core/proc.js';
import { CtlConnection } from '../../guest/ctl-client.js';
import { encode, type Identity } from '../../guest/messages.js';
import type { Launched } from '../backend.js';
import { sandboxFiles } from '../sandbox-files.js';
import { spawnMonitor } from '../spawn-monitor.js';
import { QEMU_BINARY, qemuArgs, type QemuConfig } from './command.js';
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
  /** The agent state the resumed guest must report: `booted` (a template) or `running` (a checkpoint, a fork). */
  expectAgent: 'booted' | 'running';
  helloTimeoutMs: number;
  /** Filled with where the time went, ms: spawnMs (to QMP), loadMs (state loaded, resumed), helloMs. */
  phases?: Record<string, number>;
}

/**
 * Start QEMU for `config` (its `dir` already holds the writable disk `rw.ext4`) waiting for
 * incoming state, load `stateFile`, resume the guest and check its agent answers HELLO. QEMU
 * inherits the state file and the writable disk as fds (it reopens the disk on resume, after it
 * dropped to `nobody`). On failure nothing is left running.
 */
export async function launchFromState(config: QemuConfig, opts: LoadOptions): Promise<Launched & { channel: CtlConnection; loadedMs: number }> {
  const t0 = Date.now();
  const files = sandboxFiles(config.dir);
  // fds 3, 4, 5 of QEMU: the device state, the writable disk read-only and read-write
  const fds = [openSync(opts.stateFile, 'r'), ...(config.rwDisk ? [openSync(files.rwDisk, 'r'), openSync(files.rwDisk, 'r+')] : [])];
  let launched: Launched;
  try {
    const args = qemuArgs({ ...config, incoming: true, ...(config.rwDisk ? { rwDiskFds: { readOnly: 4, readWrite: 5 } } : {}) });
    launched = spawnMonitor(QEMU_BINARY, args, files.stderr, config.dir, fds);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  let channel: CtlConnection | undefined;
  const phases = opts.phases ?? {};
  try {
    const qmp = await connectQmp(config.dir, launched);
    phases.spawnMs = Date.now() - t0;
    try {
      await loadDeviceState(qmp, 3, 30_000, { ignoreShared: opts.ignoreShared });
    } finally {
      qmp.close();
    }
    const loadedMs = Date.now() - t0;
    phases.loadMs = loadedMs - phases.spawnMs;
    channel = await CtlConnection.open(config.dir, opts.helloTimeoutMs);
    const hello = await channel.hello(opts.helloTimeoutMs);
    phases.helloMs = Date.now() - t0 - loadedMs;
    if (hello.state !== opts.expectAgent) throw new BackendError(`restored agent is ${hello.state}, not ${opts.expectAgent}`, 'RESTORE_FAILED');
    return { ...launched, channel, loadedMs };
  } catch (err) {
    await channel?.close();
    await killMonitor(launched);
    const tail = (await fs.readFile(files.stderr, 'utf8').catch(() => '')).trim().split('\n').slice(-2).join(' | ');
    throw new BackendError(`${(err as Error).message}${tail ? ` (QEMU: ${tail})` : ''}`, 'RESTORE_FAILED');
  }
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

/**
 * REIDENTIFY on `channel` (docs/guest-protocol.md): set the guest clock, reseed its generator and,
 * for a fork, give it its own hostname and machine-id. Resolves when the agent says IDENTIFIED.
 */
export async function reidentify(channel: CtlConnection, id: Identity, timeoutMs = 10_000): Promise<void> {
  const reply = channel.next((e) => (e.kind === 'identified' || e.kind === 'error') && e.session === 0, timeoutMs);
  channel.send(encode.reidentify(id));
  const e = await reply;
  if (e.kind === 'error') throw new BackendError(`the guest agent refused REIDENTIFY: ${e.message}`, 'RESTORE_FAILED');
}
