import { createHash } from 'node:crypto';
import { closeSync, openSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackendError } from '../../core/errors.js';
import { isProcessAlive, killQuietly, waitProcessGone } from '../../core/proc.js';
import { CtlConnection } from '../../guest/ctl-client.js';
import type { PrepareSpec } from '../../guest/messages.js';
import { DEFAULT_PATH } from '../../core/create-spec.js';
import { spawnMonitor } from '../spawn-monitor.js';
import { hostTscKhz } from './accel.js';
import { qemuCommand } from './command.js';
import { QmpClient } from './qmp.js';
import { makeRwDisk, RW_DISK_BYTES } from './rw-disk.js';
import { saveDeviceState } from './snapshot.js';
import { deleteLink, ensureTap } from '../../net/links.js';
import { NETWORK_MTU, TEMPLATE_MAC } from '../../net/sandbox-net.js';
import { BUILD_PID_FILE, buildTap, MANIFEST_VERSION, TEMPLATE_FILES, TemplateStore, type TemplateManifest, type TemplateSpec } from './template-store.js';

const BOOT_TIMEOUT_MS = Number(process.env.NESTBOX_BOOT_TIMEOUT_MS ?? 120_000);

/**
 * What a template guest is prepared with: a placeholder hostname, no machine-id, its NIC up with
 * the template MAC and a placeholder link-local address (every RUN brings its own identity and
 * network; the agent redoes only what differs: the MAC and address of a NIC already up, or takes
 * it down for a sandbox on no network), and a warm-up `true` as root, which reads the image's
 * shell into the guest's page cache. Its exit code does not matter: an image without `true` is
 * prepared all the same.
 */
const TEMPLATE_PREPARE: PrepareSpec = {
  hostname: 'nestbox-template',
  readOnly: false,
  net: [['link', TEMPLATE_MAC, '169.254.0.2/16', '', String(NETWORK_MTU)].join('\t')],
  warmup: { args: ['true'], env: [DEFAULT_PATH], cwd: '/', tty: false, stdin: false },
};

/**
 * Boot a guest for `spec` with its RAM in a shared file and an empty writable disk, PREPARE it
 * (root mounted, a warm-up `true` run: the generic part of every container's start, done once
 * here so that restored sandboxes share its memory and do not run it again), then save its
 * device state and quit. The writable disk as the guest left it becomes the template's pristine
 * disk, the one every clone gets a copy of. The caller holds the template's lock. The build
 * happens in a temp directory (QEMU's chroot) that is renamed into place only when complete.
 */
export async function buildTemplate(store: TemplateStore, key: string, spec: TemplateSpec): Promise<TemplateManifest> {
  await store.sweep(key);
  const tmp = await store.tempDir(key);
  // its own name: the same template may be built in another state root at the same time
  const tap = buildTap(tmp);
  try {
    await ensureTap(tap, undefined, NETWORK_MTU);
    const identity = TemplateStore.identity(spec);
    const file = (name: string) => path.join(tmp, name);
    await makeRwDisk(file('rw.ext4'));
    await fs.writeFile(file(TEMPLATE_FILES.ram), '', { mode: 0o600 });
    await fs.truncate(file(TEMPLATE_FILES.ram), spec.memoryMiB * 1024 * 1024);
    const [command, ...args] = qemuCommand({
      accel: spec.accel,
      memoryMiB: spec.memoryMiB,
      cpus: spec.cpus,
      kernel: spec.kernel,
      initrd: spec.initrd,
      dir: tmp,
      rootDisk: spec.rootDisk,
      rwDisk: true,
      append: spec.append,
      ramFile: { path: file(TEMPLATE_FILES.ram), share: true },
      // saving inactivates the disks, which reopens them: QEMU is `nobody` by then (as when restoring)
      rwDiskFds: { readOnly: 3, readWrite: 4 },
      // the NIC every VM sandbox has (its device state, MAC included, is saved; its backend is not):
      // a tap of the build's own, on no bridge
      nics: [{ tap, mac: TEMPLATE_MAC }],
      ...(spec.accel === 'tcg' ? { hostTscKhz: hostTscKhz() } : {}),
    });
    const t0 = Date.now();
    const fds = [openSync(file('rw.ext4'), 'r'), openSync(file('rw.ext4'), 'r+')];
    let vm;
    try {
      vm = spawnMonitor(command!, args, file('qemu.err'), tmp, fds);
    } finally {
      for (const fd of fds) closeSync(fd);
    }
    await fs.writeFile(file(BUILD_PID_FILE), `${vm.pid} ${vm.pidStart ?? ''}\n`);
    let gone = false;
    void vm.exited.then(() => (gone = true));
    try {
      const died = vm.exited.then(async () => {
        throw new BackendError(`template VM exited during boot: ${(await fs.readFile(file('qemu.err'), 'utf8').catch(() => '')).trim().slice(-500)}`, 'TEMPLATE_FAILED');
      });
      died.catch(() => undefined);
      const ctl = await Promise.race([CtlConnection.open(tmp, BOOT_TIMEOUT_MS), died]);
      let bootMs = 0;
      try {
        const hello = await Promise.race([ctl.hello(BOOT_TIMEOUT_MS), died]);
        if (hello.state !== 'booted') throw new BackendError(`template VM: agent is ${hello.state}, not booted`, 'TEMPLATE_FAILED');
        bootMs = Date.now() - t0;
        await Promise.race([ctl.prepare(TEMPLATE_PREPARE, BOOT_TIMEOUT_MS), died]);
      } finally {
        await ctl.close();
      }
      // let the agent see its client leave, so that a restored guest starts with no client
      await sleep(100);
      const qmp = await QmpClient.connect(tmp, 'qmp.sock', 5000);
      let saved;
      try {
        saved = await saveDeviceState(qmp, tmp, file(TEMPLATE_FILES.state));
        await qmp.execute('quit').catch(() => undefined);
      } finally {
        qmp.close();
      }
      if (!(await waitProcessGone(vm.pid, vm.pidStart, 5000))) throw new BackendError('template VM did not quit', 'TEMPLATE_FAILED');
      gone = true;
      const state = await fs.readFile(file(TEMPLATE_FILES.state));
      const manifest: TemplateManifest = {
        version: MANIFEST_VERSION,
        key,
        image: spec.image,
        imageId: spec.imageId,
        chainId: spec.chainId,
        memoryMiB: spec.memoryMiB,
        cpus: spec.cpus,
        accel: spec.accel,
        append: spec.append,
        ...identity,
        created: new Date().toISOString(),
        bootMs,
        state: { bytes: saved.bytes, sha256: createHash('sha256').update(state).digest('hex') },
        rwDiskBytes: RW_DISK_BYTES,
      };
      // the disk as the prepared guest left it (mounted, flushed by the save): what its RAM describes
      await fs.rename(file('rw.ext4'), file(TEMPLATE_FILES.rwPristine));
      for (const name of (await fs.readdir(tmp)).filter((n) => !Object.values(TEMPLATE_FILES).includes(n as never))) await fs.rm(file(name), { force: true });
      // nothing may change these files while clones map them (a private mapping still sees the file's unwritten pages)
      for (const name of [TEMPLATE_FILES.ram, TEMPLATE_FILES.state, TEMPLATE_FILES.rwPristine]) await fs.chmod(file(name), 0o400);
      await fs.writeFile(file(TEMPLATE_FILES.manifest), JSON.stringify(manifest, null, 2) + '\n', { mode: 0o600 });
      await store.commit(tmp, key);
      return manifest;
    } catch (err) {
      const tail = (await fs.readFile(file('qemu.err'), 'utf8').catch(() => '')).trim().split('\n').slice(-2).join(' | ');
      throw tail ? new BackendError(`${(err as Error).message} (QEMU: ${tail})`, 'TEMPLATE_FAILED') : err;
    } finally {
      if (!gone && isProcessAlive(vm.pid, vm.pidStart)) {
        killQuietly(vm.pid, 'SIGKILL');
        await waitProcessGone(vm.pid, vm.pidStart, 5000);
      }
    }
  } finally {
    await fs.rm(tmp, { recursive: true, force: true });
    await deleteLink(tap);
  }
}

/** Copy a sparse file keeping its holes (an 8 GiB empty ext4 disk holds a few MiB of data). */
export async function copySparse(src: string, dst: string): Promise<void> {
  const { execFile } = await import('node:child_process');
  await new Promise<void>((resolve, reject) =>
    execFile('cp', ['--sparse=always', src, dst], (err, _out, stderr) =>
      err ? reject(new BackendError(`cp \`${src}\` \`${dst}\`: ${String(stderr).trim() || err.message}`, 'COPY_FAILED')) : resolve(),
    ),
  );
}
