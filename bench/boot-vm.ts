/**
 * 1. `nestbox run --rm busybox true` (--isolation=vm) versus the raw floor: the same QEMU, kernel
 * and command line (from nestbox's own qemuArgs) with floor.cpio — an init that only reboots —
 * as initrd and none of nestbox's devices. All timed from spawn to exit. nestbox runs twice: as
 * users get it (restored from the image's VM template, built in the warm-up round) and with
 * `--no-template` (a cold boot, the like-for-like comparison with the floor's boot).
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { qemuArgs, QEMU_BINARY } from '../src/vm/qemu/command.js';
import { detectAccel, hostTscKhz } from '../src/vm/qemu/accel.js';
import { DEFAULT_MEMORY_MIB } from '../src/core/create-spec.js';
import { GUEST_DIR } from './lib/context.js';
import { interleave } from './lib/interleave.js';
import { timeOk } from './lib/timing.js';
import type { Benchmark } from './lib/types.js';

export const TARGET_RATIO = 1.3;

/** nestbox's QEMU flags minus every device, chardev, drive and the QMP socket. */
export function floorArgs(dir: string): string[] {
  const accel = detectAccel();
  const tsc = accel.accel === 'tcg' ? hostTscKhz() : undefined;
  const full = qemuArgs({
    accel: accel.accel,
    memoryMiB: DEFAULT_MEMORY_MIB,
    cpus: 1,
    kernel: path.join(GUEST_DIR, 'vmlinux'),
    initrd: path.join(GUEST_DIR, 'floor.cpio'),
    dir,
    rootDisk: '/dev/null',
    rwDisk: false,
    ...(tsc ? { hostTscKhz: tsc } : {}),
  });
  const dropWithValue = new Set(['-device', '-chardev', '-drive', '-qmp']);
  const out: string[] = [];
  for (let i = 0; i < full.length; i++) {
    if (dropWithValue.has(full[i]!)) i++;
    else out.push(full[i]!);
  }
  return out;
}

export const bootVm: Benchmark = {
  id: 'vm-run',
  title: '1. run --rm busybox true: --isolation=vm vs raw QEMU floor',
  async run(ctx) {
    const dir = path.join(ctx.tmp, 'floor');
    await fs.mkdir(dir, { recursive: true });
    const args = floorArgs(dir);
    const consoleLog = path.join(dir, 'console.log');
    const accel = detectAccel();
    const variants = await interleave(
      [
        {
          name: 'floor: QEMU+kernel+reboot-init',
          command: `${QEMU_BINARY} ${args.join(' ')}`,
          baseline: true,
          run: async () => {
            await fs.rm(consoleLog, { force: true });
            const ms = await timeOk(QEMU_BINARY, args, { cwd: dir, timeoutMs: 120_000 });
            const text = await fs.readFile(consoleLog, 'utf8').catch(() => '');
            if (!/Restarting system|reboot/i.test(text)) throw new Error(`the floor guest did not reach its reboot; console: ${text.slice(-300)}`);
            return ms;
          },
        },
        {
          name: 'nestbox run --rm (vm, default: from template)',
          command: 'nestbox --root $TMP run --rm busybox true',
          run: () => ctx.nbTimed(['run', '--rm', 'busybox', 'true']),
        },
        {
          name: 'nestbox run --rm --no-template (vm, cold boot)',
          command: 'nestbox --root $TMP run --rm --no-template busybox true',
          run: () => ctx.nbTimed(['run', '--rm', '--no-template', 'busybox', 'true']),
        },
      ],
      { rounds: ctx.config.bootRuns, warmup: ctx.config.warmup, log: ctx.log, stop: () => ctx.aborted, beforeRound: () => ctx.beforeRound() },
    );
    const nb = variants[1]!;
    const cold = variants[2]!;
    const checks = [nb, cold].flatMap((v) => v.ratio === undefined ? [] : [{
      variant: v.name,
      target: `≤ ${TARGET_RATIO.toFixed(2)}× floor (median)`,
      metric: 'median ratio',
      value: v.ratio,
      pass: v.ratio <= TARGET_RATIO,
    }]);
    const notes = [
      `accelerator: ${accel.accel} (${accel.reason})`,
      'floor = nestbox\'s qemuArgs() with initrd floor.cpio and every -device/-chardev/-drive/-qmp removed; memory, vCPUs, -sandbox, serial console file and kernel command line as nestbox',
    ];
    if (cold.stats && variants[0]!.stats) {
      notes.push(`cold-boot overhead over the floor: ${(cold.stats.median - variants[0]!.stats.median).toFixed(0)} ms (median − median); the default path restores the image's VM template instead of booting (docs/templates.md)`);
    }
    return { variants, checks, notes };
  },
};
