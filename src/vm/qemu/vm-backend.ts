import { closeSync, promises as fs, existsSync, openSync } from 'node:fs';
import type { Container } from '../../core/container.js';
import { BackendError, NestboxError } from '../../core/errors.js';
import { isProcessAlive } from '../../core/proc.js';
import type { ImageRecord } from '../../image/types.js';
import type { Backend, Launched, RootfsProvider } from '../backend.js';
import { spawnMonitor } from '../spawn-monitor.js';
import { resolveMounts, vmMountPlan, type VolumeSources } from '../mount-plan.js';
import { qemuCommand, type QemuConfig } from './command.js';
import { removeStaleSockets, sandboxFiles } from '../sandbox-files.js';
import { QmpClient } from './qmp.js';
import { sandboxQemuConfig } from './sandbox-config.js';
import { quitQemu } from './quit.js';
import { launchRestored } from './restore.js';
import { makeRwDisk } from './rw-disk.js';
import type { TemplateSpec } from './template-store.js';
import { templateDebug, VmTemplates } from './templates.js';
import { guestNetFields, TEMPLATE_MAC, type SandboxNet } from '../../net/sandbox-net.js';

/** QEMU NICs for a sandbox's networks: one per network, or the one idle NIC of `--network none`. */
export function vmNics(net: SandboxNet | undefined): { nics?: { tap: string; mac: string }[] } {
  if (!net) return {};
  if (net.nics.length) return { nics: net.nics.map((n) => ({ tap: n.dev, mac: n.mac })) };
  return net.idleTap ? { nics: [{ tap: net.idleTap, mac: TEMPLATE_MAC }] } : {};
}

export class VmBackend implements Backend {
  readonly isolation = 'vm' as const;
  readonly templates: VmTemplates;

  constructor(
    private readonly images: RootfsProvider,
    templatesDir: string,
    private readonly volumes?: VolumeSources,
  ) {
    this.templates = new VmTemplates(templatesDir);
  }

  async prepare(c: Container, image: ImageRecord): Promise<void> {
    await this.images.rootfsDisk(image);
    // with a template, the first start copies the template's pristine disk instead
    if (c.config.readOnly || (this.templates.wanted(c) && !c.config.mounts?.length)) return;
    await makeRwDisk(sandboxFiles(c.dir).rwDisk);
  }

  async launch(c: Container, image: ImageRecord, net?: SandboxNet): Promise<Launched> {
    const base = { ...(await this.config(c.config.memoryMiB, c.config.cpus, c.dir, image, !c.config.readOnly)), ...vmNics(net) };
    const files = sandboxFiles(c.dir);
    await removeStaleSockets(c.dir);
    const guestNet = net?.nics.length ? { guestNet: guestNetFields(net) } : {};
    // only a first start: the guest kernel of a template saw the pristine disk, not this one's later content
    if (this.wantsTemplate(c, net) && !existsSync(files.rwDisk)) {
      // the template's NIC was saved with TEMPLATE_MAC: the restored guest sets its own at RUN
      const restored = await this.restore(c, image, { ...base, nics: base.nics!.map((n) => ({ ...n, mac: TEMPLATE_MAC })) });
      if (restored) return { ...restored, ...guestNet };
    }
    if (!c.config.readOnly && !existsSync(files.rwDisk)) await makeRwDisk(files.rwDisk);
    const plan = c.config.mounts?.length ? vmMountPlan(await resolveMounts(c.config.mounts, this.requireVolumes())) : undefined;
    // the writable disk as fds (3: read-only, 4: read-write): saving a checkpoint inactivates and
    // reactivates it, which reopens it, and QEMU is `nobody` in its chroot by then
    const fds = c.config.readOnly ? [] : [openSync(files.rwDisk, 'r'), openSync(files.rwDisk, 'r+')];
    let launched;
    try {
      const [command, ...args] = qemuCommand({ ...base, ...(plan ? { mounts: plan } : {}), ...(fds.length ? { rwDiskFds: { readOnly: 3, readWrite: 4 } } : {}) });
      launched = spawnMonitor(command!, args, files.stderr, c.dir, fds);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
    return { ...launched, accel: base.accel, ...(plan?.guest.length ? { guestMounts: plan.guest } : {}), ...guestNet };
  }

  /** A template has no volume devices and one NIC: a container with mounts or several networks boots. */
  private wantsTemplate(c: Container, net?: SandboxNet): boolean {
    return this.templates.wanted(c) && !c.config.mounts?.length && vmNics(net).nics?.length === 1;
  }

  private requireVolumes(): VolumeSources {
    if (!this.volumes) throw new BackendError('this VM backend was made without a volume store', 'NO_VOLUMES');
    return this.volumes;
  }

  /** Restore `c` from its image's template (built on first use); undefined: boot instead. */
  private async restore(c: Container, image: ImageRecord, base: QemuConfig): Promise<Launched | undefined> {
    let key: string | undefined;
    try {
      const t = await this.templates.ensure(this.templateSpec(c.config.image, image, base));
      key = t.key;
      try {
        return { ...(await launchRestored(base, t.dir)), accel: base.accel, template: t.key };
      } catch (err) {
        // a timeout (the host too loaded to answer in time) is no sign of a broken template:
        // keep it, or every later start would wait behind its rebuild
        if (!(err instanceof NestboxError && err.code === 'RESTORE_TIMEOUT')) await this.templates.discardBroken(t.key, (err as Error).message);
        throw err;
      }
    } catch (err) {
      templateDebug(`container ${c.config.name}: booting instead of restoring${key ? ` template ${key}` : ''}: ${(err as Error).message}`);
      const files = sandboxFiles(c.dir);
      // whatever a failed restore wrote must not be read as this boot's
      await fs.writeFile(files.events, '', { mode: 0o600 });
      await fs.writeFile(files.log, '', { mode: 0o600 });
      await removeStaleSockets(c.dir);
      return undefined;
    }
  }

  /** The QEMU configuration of a sandbox (and of the template it may be restored from; checkpoints, forks). */
  async config(memoryMiB: number, cpus: number, dir: string, image: ImageRecord, rwDisk: boolean): Promise<QemuConfig> {
    return sandboxQemuConfig({ memoryMiB, cpus, dir, rootDisk: await this.images.rootfsDisk(image), rwDisk });
  }

  private templateSpec(ref: string, image: ImageRecord, base: QemuConfig): TemplateSpec {
    const { memoryMiB, cpus, accel, kernel, initrd, rootDisk } = base;
    return { image: ref, imageId: image.id, chainId: image.chainId, rootDisk, memoryMiB, cpus, accel, kernel, initrd, append: base.append ?? [] };
  }

  /** `nestbox template create`: build (or rebuild) the template of `image` for this VM size now. */
  async createTemplate(ref: string, image: ImageRecord, memoryMiB: number, cpus: number) {
    const base = await this.config(memoryMiB, cpus, '/', image, true);
    return this.templates.build(this.templateSpec(ref, image, base));
  }

  async halt(c: Container): Promise<void> {
    const { pid, pidStart } = c.state;
    if (!isProcessAlive(pid, pidStart)) return;
    await quitQemu(c.dir, pid!, pidStart);
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
