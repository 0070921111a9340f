/**
 * A container's extra mounts, resolved to host sources and turned into what each backend needs:
 * for a VM, the extra QEMU devices (an ext4 volume is a virtio-blk disk with serial `nbvolN`, a
 * host directory a virtio-9p share with tag `nbfsN`) and the MOUNT fields of RUN that tell the
 * guest agent where to mount them (docs/guest-protocol.md); for runc, bind and tmpfs mounts.
 */
import { existsSync, statSync } from 'node:fs';
import type { MountSpec } from '../core/mount-spec.js';
import { InvalidArgumentError } from '../core/errors.js';
import type { VolumeSource } from '../core/volume-drivers.js';

/** Where a volume's data is, by name (the engine's volume store). */
export interface VolumeSources {
  source(name: string): Promise<VolumeSource>;
}

export type ResolvedMount =
  | { kind: 'block'; target: string; readOnly: boolean; file: string; name: string }
  | { kind: 'dir'; target: string; readOnly: boolean; dir: string }
  | { kind: 'tmpfs'; target: string; readOnly: boolean; options: string };

export async function resolveMounts(mounts: readonly MountSpec[] | undefined, volumes: VolumeSources): Promise<ResolvedMount[]> {
  const out: ResolvedMount[] = [];
  for (const m of mounts ?? []) {
    if (m.type === 'tmpfs') {
      const opts = [m.sizeBytes !== undefined ? `size=${m.sizeBytes}` : '', m.mode !== undefined ? `mode=${m.mode.toString(8)}` : ''].filter(Boolean).join(',');
      out.push({ kind: 'tmpfs', target: m.target, readOnly: m.readOnly, options: opts });
    } else if (m.type === 'bind') {
      checkBindSource(m.source);
      out.push({ kind: 'dir', target: m.target, readOnly: m.readOnly, dir: m.source });
    } else {
      const src = await volumes.source(m.source);
      out.push(src.kind === 'block'
        ? { kind: 'block', target: m.target, readOnly: m.readOnly, file: src.file, name: m.source }
        : { kind: 'dir', target: m.target, readOnly: m.readOnly, dir: src.dir });
    }
  }
  return out;
}

/** A bind source must be an existing directory (sharing single files is not supported). */
export function checkBindSource(source: string): void {
  if (!existsSync(source)) throw new InvalidArgumentError(`bind source path does not exist: ${source} (create it first)`);
  if (!statSync(source).isDirectory()) throw new InvalidArgumentError(`bind source ${source} is not a directory: only directories can be shared into a container`);
}

export interface VmMountPlan {
  blk: { file: string; serial: string; readOnly: boolean }[];
  fs: { dir: string; tag: string; readOnly: boolean }[];
  /** RUN's MOUNT fields, in mount order. */
  guest: string[];
}

export function vmMountPlan(mounts: readonly ResolvedMount[]): VmMountPlan {
  const plan: VmMountPlan = { blk: [], fs: [], guest: [] };
  // Parents first, so a mount inside another mount's target lands on top of it.
  const ordered = [...mounts].sort((a, b) => a.target.split('/').length - b.target.split('/').length);
  for (const m of ordered) {
    const mode = m.readOnly ? 'ro' : 'rw';
    if (m.kind === 'block') {
      const serial = `nbvol${plan.blk.length}`;
      plan.blk.push({ file: m.file, serial, readOnly: m.readOnly });
      plan.guest.push(['blk', serial, m.target, mode, ''].join('\t'));
    } else if (m.kind === 'dir') {
      const tag = `nbfs${plan.fs.length}`;
      plan.fs.push({ dir: m.dir, tag, readOnly: m.readOnly });
      plan.guest.push(['9p', tag, m.target, mode, ''].join('\t'));
    } else {
      plan.guest.push(['tmpfs', '', m.target, mode, m.options].join('\t'));
    }
  }
  return plan;
}
