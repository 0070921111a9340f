import { closeSync, openSync, promises as fs } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { BackendError } from '../../core/errors.js';
import { sandboxFiles } from '../sandbox-files.js';
import { spawnMonitor } from '../spawn-monitor.js';
import { connectQmp, killMonitor } from './checkpoint-launch.js';
import { QEMU_BINARY, qemuArgs, type QemuConfig } from './command.js';
import { loadDeviceState, saveDeviceState } from './snapshot.js';

/**
 * A fork image: a saved sandbox's RAM as a file its copies map privately (copy-on-write), and
 * its CPU and device state without RAM. Made by a helper QEMU (never resumed: the guest does not
 * run in it) that loads the full state into `ramFile` (`memory-backend-file,share=on`) and saves
 * the device state again with `x-ignore-shared`. `config.dir` (the helper's chroot) holds its
 * copy of the writable disk; its NICs are transient taps QEMU creates and removes itself.
 */
export async function makeForkImage(config: QemuConfig, ramBlock: string, fullState: string, ramFile: string, deviceState: string): Promise<{ ms: number }> {
  const t0 = Date.now();
  await fs.writeFile(ramFile, '', { mode: 0o600 });
  await fs.truncate(ramFile, config.memoryMiB * 1024 * 1024);
  const files = sandboxFiles(config.dir);
  const fds = [openSync(fullState, 'r'), ...(config.rwDisk ? [openSync(files.rwDisk, 'r'), openSync(files.rwDisk, 'r+')] : [])];
  const helper = { ...config, ramFile: { path: ramFile, share: true, id: ramBlock }, incoming: true, ...(config.rwDisk ? { rwDiskFds: { readOnly: 4, readWrite: 5 } } : {}) };
  let launched;
  try {
    launched = spawnMonitor(QEMU_BINARY, qemuArgs(helper), files.stderr, config.dir, fds);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  try {
    const qmp = await connectQmp(config.dir, launched);
    try {
      await loadDeviceState(qmp, 3, 60_000, { ignoreShared: false, resume: false });
      await saveDeviceState(qmp, config.dir, deviceState, 30_000, { ignoreShared: true });
      await qmp.execute('quit').catch(() => undefined);
    } finally {
      qmp.close();
    }
  } catch (err) {
    const tail = (await fs.readFile(files.stderr, 'utf8').catch(() => '')).trim().split('\n').slice(-2).join(' | ');
    throw new BackendError(`make fork image: ${(err as Error).message}${tail ? ` (QEMU: ${tail})` : ''}`, 'FORK_FAILED');
  } finally {
    await killMonitor(launched);
  }
  return { ms: Date.now() - t0 };
}

/** The NICs of the running QEMU `pid` (from its command line): their MACs, in order. */
export async function nicMacsOf(pid: number): Promise<string[]> {
  const args = (await fs.readFile(`/proc/${pid}/cmdline`, 'utf8')).split('\0');
  const macs: string[] = [];
  for (const a of args) {
    const m = /^virtio-net-device,.*\bmac=([0-9a-f:]{17})\b/.exec(a);
    if (m) macs.push(m[1]!);
  }
  return macs;
}

/** NICs for a helper QEMU with the device set of one with `macs`: taps it creates itself (gone when it exits). */
export function transientNics(macs: string[]): { tap: string; mac: string }[] {
  const tag = randomBytes(4).toString('hex');
  return macs.map((mac, i) => ({ tap: `nbf${tag}${i}`, mac }));
}
