/**
 * 8. nestbox-runtime as podman's OCI runtime (issue 5): `podman run --rm busybox true` with
 * `--runtime runc` versus `--runtime bin/nestbox-runtime` (a VM per container), side by side,
 * plus nestbox's own `run --rm` (VM) as the reference the runtime's overhead is held to.
 */
import * as path from 'node:path';
import { BUSYBOX_OCI, REPO } from './lib/context.js';
import { interleave } from './lib/interleave.js';
import { privatePodman, PODMAN_IMAGE } from './lib/podman.js';
import { timeOk } from './lib/timing.js';
import type { Benchmark } from './lib/types.js';

const RUNS = Number(process.env.BENCH_RUNTIME_RUNS ?? 5);
const RUNTIME = path.join(REPO, 'bin', 'nestbox-runtime');
/** The VM path through podman may cost at most this much more than `nestbox run --rm` (issue 5). */
export const TARGET_RATIO = 1.2;
const RUN = ['run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', PODMAN_IMAGE, 'true'];

export const runtimeBench: Benchmark = {
  id: 'oci-runtime',
  title: '8. podman run --rm busybox true: --runtime runc vs --runtime nestbox-runtime (VM)',
  async run(ctx) {
    const notes: string[] = [];
    const podman = await privatePodman(path.join(ctx.tmp, 'pm-rt'));
    ctx.defer('podman', async () => notes.push(...(await podman.teardown())));
    await podman.load(BUSYBOX_OCI);
    // podman's own flags end with --runtime runc; a later --runtime wins
    const withRuntime = (rt: string, extra: string[] = []) => podman.args(['--runtime', rt, ...extra, ...RUN]);
    const shown = (rt: string, extra: string[] = []) => `podman ${podman.flags.join(' ').replaceAll(ctx.tmp, '$TMP')} --runtime ${rt} ${[...extra, ...RUN].join(' ')}`;
    const variants = await interleave(
      [
        {
          name: 'podman --runtime runc',
          command: shown('runc'),
          baseline: true,
          run: () => timeOk('podman', withRuntime('runc'), { timeoutMs: 60_000 }),
        },
        {
          name: 'podman --runtime nestbox-runtime (VM)',
          command: shown('bin/nestbox-runtime'),
          run: () => timeOk('podman', withRuntime(RUNTIME), { timeoutMs: 180_000 }),
        },
        {
          name: 'podman --runtime nestbox-runtime (process)',
          command: shown('bin/nestbox-runtime', ['--annotation', 'io.nestbox.isolation=process']),
          run: () => timeOk('podman', podman.args(['--runtime', RUNTIME, ...RUN.slice(0, 2), '--annotation', 'io.nestbox.isolation=process', ...RUN.slice(2)]), { timeoutMs: 60_000 }),
        },
        {
          name: 'nestbox run --rm (VM)',
          command: 'nestbox --root $TMP run --rm busybox true',
          run: () => ctx.nbTimed(['run', '--rm', 'busybox', 'true']),
        },
      ],
      { rounds: RUNS, warmup: ctx.config.warmup, log: ctx.log, stop: () => ctx.aborted, beforeRound: () => ctx.beforeRound() },
    );
    const [, vm, proc, own] = variants;
    const checks = [];
    if (vm?.stats && own?.stats) {
      const ratio = vm.stats.median / own.stats.median;
      notes.unshift(`podman + nestbox-runtime (VM) / nestbox run --rm (VM), medians: ${ratio.toFixed(2)}×`);
      checks.push({ variant: vm.name, target: `≤ ${TARGET_RATIO}× nestbox run --rm (median)`, metric: 'median ratio vs nestbox run', value: +ratio.toFixed(3), pass: ratio <= TARGET_RATIO });
    }
    if (proc?.stats && variants[0]?.stats) notes.push(`process isolation through nestbox-runtime adds node's start-up to every runc call: ${(proc.stats.median / variants[0].stats.median).toFixed(2)}× podman with runc`);
    notes.push('nestbox-runtime keeps one erofs root disk and one VM template per rootfs content (the warm-up run builds them), as nestbox run keeps one template per image; private podman under the temp dir, --network none');
    return { variants, checks, notes };
  },
};
