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
import { resolveMounts, type ResolvedMount, type VolumeSources } from '../mount-plan.js';
import { removeStaleSockets, sandboxFiles } from '../sandbox-files.js';
import { bundleConfig, withNetwork } from './bundle.js';
import type { SandboxNet } from '../../net/sandbox-net.js';
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

  constructor(
    private readonly images: RootfsProvider,
    private readonly volumes?: VolumeSources,
  ) {}

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
    await writeJsonAtomic(path.join(l.bundle, 'config.json'), bundleConfig(c, user, l.rootfs, runcMounts(c.dir, await this.resolved(c))), 0o600);
  }

  private async resolved(c: Container): Promise<ResolvedMount[]> {
    if (!c.config.mounts?.length) return [];
    if (!this.volumes) throw new BackendError('this process backend was made without a volume store', 'NO_VOLUMES');
    return resolveMounts(c.config.mounts, this.volumes);
  }

  /** Loop-mount the container's ext4 volumes where its bundle binds them from. */
  private async mountVolumes(c: Container): Promise<void> {
    for (const [i, m] of (await this.resolved(c)).entries()) {
      if (m.kind !== 'block') continue;
      const at = volumeMountPoint(c.dir, i);
      if (await isMountPoint(at)) continue;
      await fs.mkdir(at, { recursive: true, mode: 0o700 });
      try {
        await run('mount', ['-t', 'ext4', '-o', `loop,nodev${m.readOnly ? ',ro' : ''}`, m.file, at]);
      } catch (err) {
        throw new BackendError(`mount volume ${m.name} (\`${m.file}\`) on \`${at}\`: ${(err as Error).message.trim()}`, 'MOUNT_FAILED');
      }
    }
  }

  private async unmountVolumes(c: Container): Promise<void> {
    const dir = path.join(c.dir, 'volumes');
    for (const name of await fs.readdir(dir).catch(() => [] as string[])) {
      const at = path.join(dir, name);
      if (await isMountPoint(at)) await run('umount', [at]).catch(() => run('umount', ['-l', at]));
    }
  }

  async launch(c: Container, image: ImageRecord, net?: SandboxNet): Promise<Launched> {
    const shim = path.join(guestDir(), 'nestbox-shim');
    if (!existsSync(shim)) throw new BackendError(`\`${shim}\` is missing: run the set-up command from the README (scripts/setup.sh)`, 'GUEST_MISSING');
    const l = this.layout(c);
    const lower = await this.images.rootfsDir(image);
    await this.mountVolumes(c);
    const configFile = path.join(l.bundle, 'config.json');
    const config = JSON.parse(await fs.readFile(configFile, 'utf8'));
    await writeJsonAtomic(configFile, withNetwork(config, c.dir, net?.netns, !!net?.netns && net.dns.length > 0), 0o600);
    await fs.mkdir(l.runcRoot, { recursive: true, mode: 0o700 });
    await this.deleteRuncState(c);
    const files = sandboxFiles(c.dir);
    await removeStaleSockets(c.dir);
    // the shim mounts the overlay (image rootfs under c.dir/upper) on the bundle's rootfs and
    // unmounts it when the container is gone: no mount(8)/umount(8) forks on the run path
    return spawnMonitor(shim, ['--dir', c.dir, '--bundle', l.bundle, '--id', c.config.id, '--runc', RUNC_BINARY, '--runc-root', l.runcRoot, '--overlay', lower], files.stderr, c.dir);
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
    await this.unmountVolumes(c);
    if (await isMountPoint(l.rootfs)) {
      await run('umount', [l.rootfs]).catch(() => run('umount', ['-l', l.rootfs]));
    }
  }
}

async function isMountPoint(dir: string): Promise<boolean> {
  const mounts = await fs.readFile('/proc/self/mountinfo', 'utf8').catch(() => '');
  return mounts.split('\n').some((line) => line.split(' ')[4] === dir);
}

function volumeMountPoint(dir: string, i: number): string {
  return path.join(dir, 'volumes', String(i));
}

/** runc mounts for a container's volumes, host directories and tmpfs (ext4 volumes are loop-mounted at launch). */
function runcMounts(dir: string, mounts: ResolvedMount[]): object[] {
  const depth = (t: string) => t.split('/').length;
  return mounts.map((m, i) => ({ m, i })).sort((a, b) => depth(a.m.target) - depth(b.m.target)).map(({ m, i }) => {
    if (m.kind === 'tmpfs') {
      return { destination: m.target, type: 'tmpfs', source: 'tmpfs', options: ['nosuid', 'nodev', ...(m.readOnly ? ['ro'] : []), ...(m.options ? m.options.split(',') : [])] };
    }
    const source = m.kind === 'block' ? volumeMountPoint(dir, i) : m.dir;
    return { destination: m.target, type: 'bind', source, options: ['rbind', m.readOnly ? 'ro' : 'rw'] };
  });
}
