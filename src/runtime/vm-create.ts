import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import { writeFileAtomic } from '../core/atomic.js';
import { BackendError } from '../core/errors.js';
import { encode } from '../guest/messages.js';
import type { Bundle } from './bundle.js';
import { checkProcess } from './bundle.js';
import type { RuntimeContext } from './context.js';
import { BundleError } from './errors.js';
import { checkCommand } from './look-path.js';
import { vmMounts } from './mounts.js';
import { vmMountPlan } from '../vm/mount-plan.js';
import { RuntimeStore, type RuntimeRecord } from './state-store.js';
import { ctlLockKeys, qemuErrTail, vmFiles } from './vm-files.js';
import { haltVm, prepareRwDisk, vmCommand, vmConfig } from './vm-sandbox.js';
import { cachedRootDisk } from './disk-cache.js';
import { dataDir } from './data-dir.js';
import { restoreVm } from './vm-template.js';
import { killQuietly } from '../core/proc.js';
import { vmSize } from './vm-size.js';
import { parseError, spawnWaiter, type Waiter } from './waiter.js';

export interface CreateOptions {
  pidFile?: string;
  consoleSocket?: string;
}

const BOOT_TIMEOUT_MS = Number(process.env.NESTBOX_BOOT_TIMEOUT_MS ?? 120_000);

/**
 * runtime-spec `create` for a VM: the bundle's rootfs becomes the VM's disk, the VM boots until
 * its agent answers, and the waiter (whose pid goes into the pid file) holds the caller's stdio
 * until `start` has it run the process. On any failure nothing is left: no VM, no state.
 */
export async function createVm(ctx: RuntimeContext, id: string, bundle: Bundle, opts: CreateOptions): Promise<void> {
  const where = `bundle \`${bundle.dir}\``;
  const proc = checkProcess(bundle.config.process, where);
  if (proc.terminal && !opts.consoleSocket) throw new BundleError(`${where}: process.terminal is true, so --console-socket is required`);
  if (!proc.terminal && opts.consoleSocket) throw new BundleError(`${where}: --console-socket was given but process.terminal is false`);
  await checkCommand(bundle.rootfs, proc.args[0]!, proc.env, proc.cwd);
  const size = vmSize(bundle.config, bundle.annotations);
  const readOnly = bundle.config.root?.readonly === true;
  if (bundle.config.process?.rlimits?.length) ctx.log.debug('process.rlimits are not applied inside the VM (its kernel has its own defaults)');
  const mounts = vmMountPlan(vmMounts(bundle.config.mounts, ctx.log));
  const shares = mounts.blk.length + mounts.fs.length > 0 ? { mounts: { blk: mounts.blk, fs: mounts.fs } } : {};

  const store = new RuntimeStore(ctx.root);
  const record: RuntimeRecord = {
    id,
    bundle: bundle.dir,
    rootfs: bundle.rootfs,
    created: new Date().toISOString(),
    annotations: bundle.annotations,
    status: 'creating',
    ...size,
  };
  const dir = await store.claim(record);
  let waiter: Waiter | undefined;
  try {
    await store.locked(id, async () => {
      const files = vmFiles(dir);
      const { disk, key } = await cachedRootDisk(dataDir(ctx.root), bundle.rootfs);
      const config = { ...vmConfig(dir, disk, size.memoryMiB, size.cpus, readOnly), ...shares };
      const request = encode.run({
        args: proc.args,
        env: proc.env,
        cwd: proc.cwd,
        user: proc.user,
        tty: proc.terminal,
        stdin: false, // the waiter says whether it holds a stdin when it sends RUN
        hostname: bundle.config.hostname || id.slice(0, 12),
        readOnly,
        machineId: randomBytes(16).toString('hex'),
        ...(mounts.guest.length ? { mounts: mounts.guest } : {}),
      });
      await fs.writeFile(files.runRequest, request, { mode: 0o600 });
      // a template has no shares: a container with mounts boots (as in the engine)
      const restored = mounts.guest.length ? undefined : await restoreVm(ctx.log, dataDir(ctx.root), config, key);
      if (!restored && !readOnly) await prepareRwDisk(dir);
      const args = ['vm', '--dir', dir, '--locks', ctlLockKeys(dir).join(','), '--request', files.runRequest, '--boot-timeout-ms', String(BOOT_TIMEOUT_MS)];
      if (opts.consoleSocket) args.push('--console-socket', opts.consoleSocket);
      if (restored) args.push('--qemu-pid', String(restored.pid));
      else args.push('--', ...vmCommand(config));
      try {
        waiter = await spawnWaiter(args, dir, BOOT_TIMEOUT_MS + 10_000);
      } catch (err) {
        if (restored) killQuietly(restored.pid, 'SIGKILL');
        throw err;
      }
      const failed = parseError(waiter.report);
      if (failed || !waiter.report.startsWith('ok ')) {
        throw new BackendError(`create ${id}: ${failed?.message ?? `unexpected report "${waiter.report}" from the waiter`}${qemuErrTail(dir)}`, 'START_FAILED');
      }
      if (opts.pidFile) await writeFileAtomic(opts.pidFile, String(waiter.pid), 0o644);
      await store.write({ ...record, status: 'created', pid: waiter.pid, ...(waiter.pidStart ? { pidStart: waiter.pidStart } : {}) });
      ctx.log.debug(`created ${id}: waiter pid ${waiter.pid}, ${size.memoryMiB} MiB, ${size.cpus} vCPU, ${restored ? 'restored from a template' : 'booted'}`);
    });
  } catch (err) {
    await haltVm(dir, waiter?.pid, waiter?.pidStart).catch(() => undefined);
    await store.remove(id);
    throw err;
  }
  waiter!.release();
}
