import * as path from 'node:path';
import type { Container } from './container.js';
import { CheckpointError, digestStable, qemuVersionString, type CheckpointManifest } from './checkpoint-manifest.js';
import type { DigestCache } from './digest-cache.js';
import { FrameFileReader } from '../guest/frame-file.js';
import type { ImageRecord } from '../image/types.js';
import { sandboxFiles } from '../vm/sandbox-files.js';
import type { QemuConfig } from '../vm/qemu/command.js';
import { qemuBinaryPath } from '../vm/qemu/template-store.js';

/** What a saved guest needs from the host it is restored on: recorded at save, checked at restore. */
export async function hostIdentity(base: QemuConfig, cache?: DigestCache): Promise<Pick<CheckpointManifest['guest'], 'kernel' | 'initramfs' | 'qemu' | 'accel'>> {
  // `qemu --version` costs a process start (~30-50 ms here): kept per binary while it is unchanged
  const binary = qemuBinaryPath();
  const known = async () => {
    const v = await qemuVersionString(binary);
    if (v === 'unknown') throw new Error('no version'); // not kept
    return v;
  };
  const version = () => (cache && binary.includes('/') ? cache.about(binary, 'version', known) : known()).catch(() => qemuVersionString(binary));
  const [kernel, initramfs, qemu] = await Promise.all([digestStable(base.kernel, cache), digestStable(base.initrd, cache), version()]);
  return { kernel, initramfs, qemu, accel: base.accel };
}

/** The agent version the guest announced (READY in its events file). */
export async function agentVersion(c: Container): Promise<string> {
  const events = await new FrameFileReader(sandboxFiles(c.dir).events, false).readNew().catch(() => []);
  for (const e of events) if (e.kind === 'ready') return e.agent;
  return '';
}

/**
 * Why checkpoint `m` cannot be restored on this host with `image` and `base`, naming what differs;
 * undefined when it can. The saved guest's memory holds its kernel, agent and the root disk's
 * page cache: any of them differing would corrupt it.
 */
export async function foreignness(m: CheckpointManifest, image: ImageRecord | undefined, base: QemuConfig | undefined, cache?: DigestCache): Promise<string | undefined> {
  if (!image) return `its image ${m.image.ref} (${m.image.id.slice(0, 19)}) is not present here: pull or load it first`;
  if (image.chainId !== m.image.chainId) return `its image ${m.image.ref} has other layers here (chain ID ${image.chainId.slice(0, 19)}, the checkpoint needs ${m.image.chainId.slice(0, 19)})`;
  if (!base) return undefined;
  const here = await hostIdentity(base, cache);
  if (m.kind === 'full') {
    if (here.kernel.sha256 !== m.guest.kernel.sha256) return `it was saved with another guest kernel (sha256 ${m.guest.kernel.sha256.slice(0, 12)}, here ${here.kernel.sha256.slice(0, 12)} at ${base.kernel})`;
    if (here.initramfs.sha256 !== m.guest.initramfs.sha256) return `it was saved with another guest agent / initramfs (sha256 ${m.guest.initramfs.sha256.slice(0, 12)}, here ${here.initramfs.sha256.slice(0, 12)} at ${path.basename(base.initrd)})`;
    if (here.qemu !== m.guest.qemu) return `it was saved by ${m.guest.qemu}, this host has ${here.qemu}`;
    if (here.accel !== m.guest.accel) return `it was saved under ${m.guest.accel}, this host runs VMs under ${here.accel}`;
    const root = await digestStable(base.rootDisk, cache);
    if (root.sha256 !== m.image.rootDisk.sha256) return `the image's root disk differs here (sha256 ${root.sha256.slice(0, 12)}, the checkpoint needs ${m.image.rootDisk.sha256.slice(0, 12)})`;
  }
  return undefined;
}

export function checkForeign(why: string | undefined, name: string): void {
  if (why) throw new CheckpointError(`cannot restore checkpoint ${name}: ${why}`, 'CHECKPOINT_FOREIGN');
}
