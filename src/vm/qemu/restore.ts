import { closeSync, openSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackendError } from '../../core/errors.js';
import { isProcessAlive, killQuietly, waitProcessGone } from '../../core/proc.js';
import { CtlConnection } from '../../guest/ctl-client.js';
import type { Launched } from '../backend.js';
import { sandboxFiles } from '../sandbox-files.js';
import { spawnMonitor } from '../spawn-monitor.js';
import { QEMU_BINARY, TCG_TB_MIB, qemuArgs, type QemuConfig } from './command.js';
import { QmpClient } from './qmp.js';
import { loadDeviceState } from './snapshot.js';
import { copySparse } from './template-build.js';
import { TEMPLATE_FILES } from './template-store.js';
import { templateDebug } from './templates.js';

/** How long a restored guest has to answer HELLO before the template is judged broken. */
const HELLO_TIMEOUT_MS = Number(process.env.NESTBOX_TEMPLATE_HELLO_MS ?? 10_000);
/**
 * TCG's code cache for restored sandboxes (default: as for booted ones). A restored guest starts
 * with an empty cache and fills whatever size it is given (idle: 24 of 32 MiB within a minute),
 * which is most of its own host memory. Measured here: 8 MiB saves ~16 MiB per idle sandbox but
 * makes the first command 2-3x slower (retranslation); see docs/templates.md.
 */
export const RESTORED_TB_MIB = Number(process.env.NESTBOX_TEMPLATE_TB_MIB ?? TCG_TB_MIB);

/**
 * Start a sandbox from the template in `templateDir`: a fresh copy of the pristine writable disk,
 * the template's RAM file mapped privately (copy-on-write), its device state loaded, the guest
 * resumed and its agent's HELLO answered. `base` is the sandbox's own QEMU configuration: the
 * same devices as the template's, so the saved state fits. On failure nothing is left running
 * and the sandbox's writable disk is removed.
 */
export async function launchRestored(base: QemuConfig, templateDir: string): Promise<Launched> {
  const t0 = Date.now();
  const files = sandboxFiles(base.dir);
  await copySparse(path.join(templateDir, TEMPLATE_FILES.rwPristine), files.rwDisk);
  await fs.chmod(files.rwDisk, 0o600);
  // fds 3, 4, 5 of QEMU: the device state, the writable disk read-only and read-write
  const fds = [openSync(path.join(templateDir, TEMPLATE_FILES.state), 'r'), openSync(files.rwDisk, 'r'), openSync(files.rwDisk, 'r+')];
  let launched: Launched;
  try {
    const args = qemuArgs({
      ...base,
      ...(base.accel === 'tcg' ? { tbMiB: RESTORED_TB_MIB } : {}),
      ramFile: { path: path.join(templateDir, TEMPLATE_FILES.ram), share: false },
      incoming: true,
      rwDiskFds: { readOnly: 4, readWrite: 5 },
    });
    launched = spawnMonitor(QEMU_BINARY, args, files.stderr, base.dir, fds);
  } finally {
    for (const fd of fds) closeSync(fd);
  }
  let channel: CtlConnection | undefined;
  try {
    const qmp = await connectQmp(base.dir, launched);
    try {
      await loadDeviceState(qmp, 3);
    } finally {
      qmp.close();
    }
    const loaded = Date.now();
    channel = await CtlConnection.open(base.dir, HELLO_TIMEOUT_MS);
    const hello = await channel.hello(HELLO_TIMEOUT_MS);
    if (hello.state !== 'booted') throw new BackendError(`restored agent is ${hello.state}, not booted`, 'RESTORE_FAILED');
    templateDebug(`restored in ${Date.now() - t0} ms (state loaded and resumed after ${loaded - t0} ms)`);
    return { ...launched, channel };
  } catch (err) {
    await channel?.close();
    if (isProcessAlive(launched.pid, launched.pidStart)) {
      killQuietly(launched.pid, 'SIGKILL');
      await waitProcessGone(launched.pid, launched.pidStart, 5000);
    }
    await fs.rm(files.rwDisk, { force: true });
    const tail = (await fs.readFile(files.stderr, 'utf8').catch(() => '')).trim().split('\n').slice(-2).join(' | ');
    throw new BackendError(`${(err as Error).message}${tail ? ` (QEMU: ${tail})` : ''}`, 'RESTORE_FAILED');
  }
}

/** QEMU creates its QMP socket a few ms after it starts. */
async function connectQmp(dir: string, launched: Launched, timeoutMs = 5000): Promise<QmpClient> {
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
