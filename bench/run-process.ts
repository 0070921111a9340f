/**
 * 2. `nestbox run --rm --isolation=process busybox true` versus `podman run --rm --runtime runc`
 * of the same image (private podman storage) and bare `runc run` of a bundle on the same rootfs.
 */
import * as path from 'node:path';
import { BUSYBOX_OCI } from './lib/context.js';
import { interleave } from './lib/interleave.js';
import { privatePodman, PODMAN_IMAGE } from './lib/podman.js';
import { BareRunc } from './lib/runc.js';
import { timeOk } from './lib/timing.js';
import type { Benchmark } from './lib/types.js';

/** Both sides run with `--network none` (a network namespace with only loopback), so neither sets up a bridge. */
const PODMAN_RUN = ['run', '--rm', '--network', 'none', '--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024', PODMAN_IMAGE, 'true'];

export const runProcess: Benchmark = {
  id: 'process-run',
  title: '2. run --rm busybox true: --isolation=process vs podman (runc) vs bare runc',
  async run(ctx) {
    const notes: string[] = [];
    const podman = await privatePodman(path.join(ctx.tmp, 'pm'));
    ctx.defer('podman', async () => notes.push(...(await podman.teardown())));
    // without podman the other two are still measured; the podman variant then records the failure
    const podmanSetup = await podman.load(BUSYBOX_OCI).then(() => undefined, (err: Error) => err);

    const runc = new BareRunc(path.join(ctx.tmp, 'runc-state'));
    ctx.defer('bare runc', async () => notes.push(...(await runc.teardown())));
    const image = await ctx.engine.images.resolve('busybox');
    const rootfs = await ctx.engine.images.rootfsDir(image);
    const bundle = await runc.bundle(path.join(ctx.tmp, 'runc-bundle-true'), rootfs, ['true']);

    const variants = await interleave(
      [
        {
          name: 'nestbox run --rm (process)',
          command: 'nestbox --root $TMP run --rm --isolation=process --network none busybox true',
          run: () => ctx.nbTimed(['run', '--rm', '--isolation=process', '--network', 'none', 'busybox', 'true']),
        },
        {
          name: 'podman run --rm (runc)',
          command: `podman ${podman.flags.join(' ').replaceAll(ctx.tmp, '$TMP')} ${PODMAN_RUN.join(' ')}`,
          baseline: true,
          run: () => (podmanSetup ? Promise.reject(new Error(`podman load: ${podmanSetup.message}`)) : timeOk('podman', podman.args(PODMAN_RUN), { timeoutMs: 60_000 })),
        },
        {
          name: 'bare runc run',
          command: 'runc --root $TMP/runc-state run --bundle $TMP/runc-bundle-true <id>',
          run: () => timeOk('runc', runc.args(['run', '--bundle', bundle, runc.newId('run')]), { timeoutMs: 60_000 }),
        },
      ],
      { rounds: ctx.config.processRuns, warmup: ctx.config.warmup, log: ctx.log, stop: () => ctx.aborted, beforeRound: () => ctx.beforeRound() },
    );
    const [nb, , bare] = variants;
    const checks = nb!.ratio === undefined ? [] : [{
      variant: nb!.name,
      target: '≤ 1.00× podman (median)',
      metric: 'median ratio',
      value: nb!.ratio,
      pass: nb!.ratio <= 1.0,
    }];
    if (nb!.stats && bare!.stats) notes.unshift(`nestbox (process) / bare runc, medians: ${(nb!.stats.median / bare!.stats.median).toFixed(2)}×`);
    notes.unshift('nestbox and podman both run with --network none (a network namespace with only loopback: no bridge, no NAT rules); podman with the --ulimit flags this host needs; private --root/--runroot/--tmpdir under the temp dir');
    return { variants, checks, notes };
  },
};
