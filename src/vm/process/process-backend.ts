import { promises as fs, existsSync } from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import type { Container } from '../../core/container.js';
import { writeJsonAtomic } from '../../core/atomic.js';
import { BackendError } from '../../core/errors.js';
import { guestDir } from '../../core/paths.js';
import { isProcessAlive, killQuietly, waitProcessGone } from '../../core/proc.js';
import type { ImageRecord } from '../../image/types.js';
import type { Backend, Launched, RootfsProvider } from '../backend.js';
import { spawnMonitor } from '../spawn-monitor.js';
import { removeStaleSockets, sandboxFiles } from '../sandbox-files.js';
import { bundleConfig } from './bundle.js';
import { resolveUser } from './passwd.js';

const run = promisify(execFile);
export const RUNC_BINARY = process.env.NESTBOX_RUNC ?? 'runc';

/**
 * Process isolation: runc on an OCI bundle made from the same image. A small C shim (the guest
 * agent's host twin, `nestbox-shim`) runs `runc run` and speaks the guest protocol on the same
 * ctl sockets, log and events files as a VM does — so everything above is shared.
 */
export class ProcessBackend implements Backend {
  readonly isolation = 'process' as const;

  constructor(private readonly images: RootfsProvider) {}

  private layout(c: Container) {
    return {
      bundle: path.join(c.dir, 'bundle'),
      rootfs: path.join(c.dir, 'bundle', 'rootfs'),
      upper: path.join(c.dir, 'upper'),
      work: path.join(c.dir, 'work'),
      runcRoot: path.join(path.dirname(path.dirname(c.dir)), 'runc'),
    };
  }

  async prepare(c: Container, image: ImageRecord): Promise<void> {
    const lower = await this.images.rootfsDir(image);
    const l = this.layout(c);
    for (const d of [l.rootfs, l.work]) await fs.mkdir(d, { recursive: true, mode: 0o700 });
    // the writable layer's top directory becomes the container's `/`: it must be traversable
    await fs.mkdir(l.upper, { mode: 0o755 });
    await fs.chmod(l.upper, 0o755);
    const user = await resolveUser(lower, c.config.process.user);
    await fs.writeFile(path.join(c.dir, 'hostname'), `${c.config.hostname}\n`);
    await fs.writeFile(path.join(c.dir, 'hosts'), `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n127.0.1.1\t${c.config.hostname}\n`);
    await writeJsonAtomic(path.join(l.bundle, 'config.json'), bundleConfig(c, user, l.rootfs), 0o600);
  }

  async launch(c: Container, image: ImageRecord): Promise<Launched> {
    const shim = path.join(guestDir(), 'nestbox-shim');
    if (!existsSync(shim)) throw new BackendError(`\`${shim}\` is missing: run the set-up command from the README (scripts/setup.sh)`, 'GUEST_MISSING');
    const l = this.layout(c);
    await this.mountRootfs(c, await this.images.rootfsDir(image));
    await fs.mkdir(l.runcRoot, { recursive: true, mode: 0o700 });
    await this.deleteRuncState(c);
    const files = sandboxFiles(c.dir);
    await removeStaleSockets(c.dir);
    return spawnMonitor(shim, ['--dir', c.dir, '--bundle', l.bundle, '--id', c.config.id, '--runc', RUNC_BINARY, '--runc-root', l.runcRoot], files.stderr, c.dir);
  }

  private async mountRootfs(c: Container, lower: string): Promise<void> {
    const l = this.layout(c);
    if (await isMountPoint(l.rootfs)) return;
    const opts = `lowerdir=${lower},upperdir=${l.upper},workdir=${l.work}`;
    try {
      await run('mount', ['-t', 'overlay', 'overlay', '-o', opts, l.rootfs]);
    } catch (err) {
      throw new BackendError(`mount overlay on \`${l.rootfs}\`: ${(err as Error).message.trim()}`, 'MOUNT_FAILED');
    }
  }

  async halt(c: Container): Promise<void> {
    const l = this.layout(c);
    await run(RUNC_BINARY, ['--root', l.runcRoot, 'kill', c.config.id, 'KILL']).catch(() => undefined);
    if (!(await waitProcessGone(c.state.pid, c.state.pidStart, 3000)) && isProcessAlive(c.state.pid, c.state.pidStart)) {
      killQuietly(c.state.pid, 'SIGKILL');
      await waitProcessGone(c.state.pid, c.state.pidStart, 3000);
    }
    await this.deleteRuncState(c);
  }

  /** `runc delete --force`, only when runc still has state for it (the shim deletes it on exit). */
  private async deleteRuncState(c: Container): Promise<void> {
    const l = this.layout(c);
    if (!existsSync(path.join(l.runcRoot, c.config.id))) return;
    await run(RUNC_BINARY, ['--root', l.runcRoot, 'delete', '--force', c.config.id]).catch(() => undefined);
  }

  async destroy(c: Container): Promise<void> {
    const l = this.layout(c);
    await this.deleteRuncState(c);
    if (await isMountPoint(l.rootfs)) {
      await run('umount', [l.rootfs]).catch(() => run('umount', ['-l', l.rootfs]));
    }
  }
}

async function isMountPoint(dir: string): Promise<boolean> {
  const mounts = await fs.readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return mounts.split('\n').some((line) => line.split(' ')[4] === dir);
}
