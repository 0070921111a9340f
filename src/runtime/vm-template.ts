import * as path from 'node:path';
import { procStartTime } from '../core/proc.js';
import type { QemuConfig } from '../vm/qemu/command.js';
import { launchRestored } from '../vm/qemu/restore.js';
import { TemplateUnusable, type TemplateSpec } from '../vm/qemu/template-store.js';
import { VmTemplates } from '../vm/qemu/templates.js';
import type { RuntimeLog } from './log.js';
import { deleteLink, ensureTap } from '../net/links.js';
import { NETWORK_MTU, TEMPLATE_MAC } from '../net/sandbox-net.js';
import { idleTapName } from './vm-files.js';

/**
 * Start the container's VM from a template of its rootfs (the engine's VM templates, keyed here
 * by the rootfs's content): the first container of a rootfs boots one and saves it, the next ones
 * restore it in a fraction of a boot. Returns QEMU's pid, or undefined when the container must
 * boot instead (templates off, a read-only root, no usable template) — never an error of its own.
 * The restored VM has the template's NIC on an idle tap (no network, as a booted one has none).
 */
export async function restoreVm(log: RuntimeLog, data: string, config: QemuConfig, key: string): Promise<{ pid: number; pidStart?: string } | undefined> {
  if (process.env.NESTBOX_TEMPLATES === '0' || !config.rwDisk) return undefined;
  const templates = new VmTemplates(path.join(data, 'templates'));
  const { memoryMiB, cpus, accel, kernel, initrd, rootDisk } = config;
  const spec: TemplateSpec = { image: `bundle rootfs ${key.slice(0, 12)}`, imageId: key, chainId: key, rootDisk, memoryMiB, cpus, accel, kernel, initrd, append: config.append ?? [] };
  let template: { key: string; dir: string };
  try {
    template = await templates.ensure(spec);
  } catch (err) {
    if (!(err instanceof TemplateUnusable)) throw err;
    log.debug(`booting instead of restoring: ${err.message}`);
    return undefined;
  }
  const tap = idleTapName(config.dir);
  try {
    await ensureTap(tap, undefined, NETWORK_MTU);
    const launched = await launchRestored({ ...config, nics: [{ tap, mac: TEMPLATE_MAC }] }, template.dir);
    // the waiter takes the guest channel over (the agent sees a client swap, as after any restore)
    await launched.channel?.close();
    const pidStart = launched.pidStart ?? procStartTime(launched.pid);
    return { pid: launched.pid, ...(pidStart ? { pidStart } : {}) };
  } catch (err) {
    await deleteLink(tap).catch(() => undefined);
    log.warn(`template ${template.key} failed to restore (${(err as Error).message}); removed, booting instead`);
    await templates.discardBroken(template.key, (err as Error).message);
    // remembered like a failed build, so the next containers boot rather than build it again at once
    await templates.store.recordFailure(template.key, `restore failed: ${(err as Error).message}`);
    return undefined;
  }
}
