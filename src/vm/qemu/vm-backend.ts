import { promises as fs, existsSync } from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Container } from '../../core/container.js';
import { BackendError } from '../../core/errors.js';
import { guestDir } from '../../core/paths.js';
import { isProcessAlive, killQuietly, waitProcessGone } from '../../core/proc.js';
import type { ImageRecord } from '../../image/types.js';
import type { Backend, Launched, RootfsProvider } from '../backend.js';
import { spawnMonitor } from '../spawn-monitor.js';
import { detectAccel, hostTscKhz } from './accel.js';
import { QEMU_BINARY, qemuArgs } from './command.js';
import { removeStaleSockets, sandboxFiles } from '../sandbox-files.js';
import { QmpClient } from './qmp.js';

const run = promisify(execFile);
/** Size of the sparse writable layer; only blocks the container writes take space. */
const RW_DISK_BYTES = 8 * 1024 ** 3;

export class VmBackend implements Backend {
  readonly isolation = 'vm' as const;

  constructor(private readonly images: RootfsProvider) {}

  async prepare(c: Container, image: ImageRecord): Promise<void> {
    await this.images.rootfsDisk(image);
    if (c.config.readOnly) return;
    const disk = sandboxFiles(c.dir).rwDisk;
    await fs.writeFile(disk, '', { mode: 0o600 });
    await fs.truncate(disk, RW_DISK_BYTES);
    try {
      await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'lazy_itable_init=1,lazy_journal_init=1', disk]);
    } catch (err) {
      throw new BackendError(`mkfs.ext4 \`${disk}\`: ${(err as Error).message.trim()} (is e2fsprogs installed?)`, 'MKFS_FAILED');
    }
  }

  async launch(c: Container, image: ImageRecord): Promise<Launched> {
    const guest = guestDir();
    const kernel = path.join(guest, 'vmlinux');
    const initrd = path.join(guest, 'initramfs.cpio');
    for (const f of [kernel, initrd]) {
      if (!existsSync(f)) throw new BackendError(`guest file \`${f}\` is missing: run the set-up command from the README (scripts/setup.sh)`, 'GUEST_MISSING');
    }
    const accel = detectAccel();
    const files = sandboxFiles(c.dir);
    await removeStaleSockets(c.dir);
    const args = qemuArgs({
      accel: accel.accel,
      memoryMiB: c.config.memoryMiB,
      cpus: c.config.cpus,
      kernel,
      initrd,
      dir: c.dir,
      rootDisk: await this.images.rootfsDisk(image),
      rwDisk: !c.config.readOnly,
      ...(process.env.NESTBOX_KERNEL_ARGS ? { append: process.env.NESTBOX_KERNEL_ARGS.split(/\s+/).filter(Boolean) } : {}),
      ...(accel.accel === 'tcg' ? { hostTscKhz: hostTscKhz() } : {}),
    });
    const launched = spawnMonitor(QEMU_BINARY, args, files.stderr, c.dir);
    return { ...launched, accel: accel.accel };
  }

  async halt(c: Container): Promise<void> {
    const { pid, pidStart } = c.state;
    if (!isProcessAlive(pid, pidStart)) return;
    try {
      const qmp = await QmpClient.connect(c.dir, 'qmp.sock', 2000);
      await qmp.execute('quit').catch(() => undefined);
      qmp.close();
    } catch {
      // QMP gone: fall through to SIGKILL
    }
    if (!(await waitProcessGone(pid, pidStart, 3000))) {
      killQuietly(pid, 'SIGKILL');
      await waitProcessGone(pid, pidStart, 5000);
    }
  }

  async pause(c: Container): Promise<void> {
    await this.qmp(c, 'stop');
  }

  async resume(c: Container): Promise<void> {
    await this.qmp(c, 'cont');
  }

  /** One QMP command to the sandbox's QEMU. */
  private async qmp(c: Container, command: string): Promise<void> {
    if (!isProcessAlive(c.state.pid, c.state.pidStart)) throw new BackendError(`container ${c.config.name}: QEMU is not running`, 'NOT_RUNNING');
    const qmp = await QmpClient.connect(c.dir, 'qmp.sock', 5000);
    try {
      await qmp.execute(command);
    } finally {
      qmp.close();
    }
  }

  async destroy(c: Container): Promise<void> {
    const files = sandboxFiles(c.dir);
    await fs.rm(files.rwDisk, { force: true });
  }
}
