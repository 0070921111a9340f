/** 5. The CLI's own start-up: `nestbox --version` beside `node -e 0`. */
import { NESTBOX } from './lib/context.js';
import { interleave } from './lib/interleave.js';
import { timedSpawn, timeOk } from './lib/timing.js';
import type { Benchmark } from './lib/types.js';

export const cliStartup: Benchmark = {
  id: 'cli-startup',
  title: '5. CLI start-up: nestbox --version vs node -e 0',
  async run(ctx) {
    const probe = await timedSpawn(NESTBOX, ['--version']);
    if (probe.code !== 0 || !/nestbox version/.test(probe.stdout)) throw new Error(`nestbox --version printed ${JSON.stringify(probe.stdout)} (exit ${probe.code})`);
    const variants = await interleave(
      [
        { name: 'node -e 0', command: 'node -e 0', baseline: true, run: () => timeOk('node', ['-e', '0']) },
        { name: 'nestbox --version', command: 'bin/nestbox --version (sh wrapper, dist/cli.cjs loader, dist/cli.bundle.cjs from its V8 code cache)', run: () => timeOk(NESTBOX, ['--version']) },
      ],
      { rounds: ctx.config.startupRuns, warmup: ctx.config.warmup, log: ctx.log, stop: () => ctx.aborted, beforeRound: () => ctx.beforeRound() },
    );
    const [node, nb] = variants;
    const notes = [`version string: ${probe.stdout.trim()}`];
    if (node!.stats && nb!.stats) notes.push(`nestbox's own start-up cost over bare node: ${(nb!.stats.median - node!.stats.median).toFixed(1)} ms (median − median)`);
    return { variants, checks: [], notes };
  },
};
