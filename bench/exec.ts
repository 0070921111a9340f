/**
 * 3. `exec NAME true` round trip into a running container: through the library in-process
 * (Engine.exec on a VM container, many times), through the CLI, and `runc exec` into a bare
 * runc container. Engine.exec into a process-isolated container is shown beside them.
 */
import * as path from 'node:path';
import type { ProcessSpec } from '../src/guest/messages.js';
import type { BenchContext } from './lib/context.js';
import { interleave } from './lib/interleave.js';
import { BareRunc } from './lib/runc.js';
import { sh, timeAsync, timeOk } from './lib/timing.js';
import type { Benchmark } from './lib/types.js';

export const TARGET_INPROC_P50_MS = 20;

async function startDetached(ctx: BenchContext, name: string, isolation: 'vm' | 'process'): Promise<void> {
  ctx.defer(`rm -f ${name}`, () => ctx.nb(['rm', '-f', name]).catch(() => undefined));
  await ctx.nb(['run', '-d', '--name', name, `--isolation=${isolation}`, 'busybox', 'sleep', '1000000']);
}

async function execSpec(ctx: BenchContext, name: string): Promise<ProcessSpec> {
  const c = await ctx.engine.inspect(name);
  return { args: ['true'], env: c.config.process.env, cwd: c.config.process.cwd, tty: false, stdin: false };
}

export const execBench: Benchmark = {
  id: 'exec',
  title: '3. exec NAME true into a running container',
  async run(ctx) {
    const notes: string[] = [];
    const vmName = 'nbb-exec-vm';
    const procName = 'nbb-exec-proc';
    await startDetached(ctx, vmName, 'vm');
    await startDetached(ctx, procName, 'process');
    const vmSpec = await execSpec(ctx, vmName);
    const procSpec = await execSpec(ctx, procName);

    const runc = new BareRunc(path.join(ctx.tmp, 'runc-state'));
    ctx.defer('bare runc', async () => notes.push(...(await runc.teardown())));
    const image = await ctx.engine.images.resolve('busybox');
    const bundle = await runc.bundle(path.join(ctx.tmp, 'runc-bundle-sleep'), await ctx.engine.images.rootfsDir(image), ['sleep', '1000000']);
    const runcId = runc.newId('exec');
    await sh('runc', runc.args(['run', '-d', '--bundle', bundle, runcId]), { stdio: 'ignore' });

    const engineExec = (name: string, spec: ProcessSpec) => async () => {
      let code = -1;
      const ms = await timeAsync(async () => {
        const r = await ctx.engine.exec(name, spec, { onOutput: () => undefined });
        code = r.exitCode;
      });
      if (code !== 0) throw new Error(`exec true in ${name}: exit ${code}`);
      return ms;
    };
    const variants = await interleave(
      [
        {
          name: 'Engine.exec (vm), in-process',
          command: `engine.exec('${vmName}', {args:['true'],…}) — one Engine, same process`,
          perRound: ctx.config.execPerRound,
          run: engineExec(vmName, vmSpec),
        },
        {
          name: 'nestbox exec (vm), CLI',
          command: `nestbox --root $TMP exec ${vmName} true`,
          run: () => ctx.nbTimed(['exec', vmName, 'true'], 60_000),
        },
        {
          name: 'Engine.exec (process), in-process',
          command: `engine.exec('${procName}', {args:['true'],…})`,
          perRound: ctx.config.execPerRound,
          run: engineExec(procName, procSpec),
        },
        {
          name: 'runc exec (bare runc)',
          command: 'runc --root $TMP/runc-state exec <id> true',
          baseline: true,
          run: () => timeOk('runc', runc.args(['exec', runcId, 'true']), { timeoutMs: 60_000 }),
        },
      ],
      { rounds: ctx.config.execRounds, warmup: ctx.config.warmup, log: ctx.log, stop: () => ctx.aborted, beforeRound: () => ctx.beforeRound() },
    );
    const inproc = variants[0]!;
    const checks = inproc.stats ? [{
      variant: inproc.name,
      target: `p50 ≤ ${TARGET_INPROC_P50_MS} ms`,
      metric: 'median ms',
      value: inproc.stats.median,
      pass: inproc.stats.median <= TARGET_INPROC_P50_MS,
    }] : [];
    const acc = (await ctx.engine.inspect(vmName)).state.accel;
    notes.push(`the VM container runs under ${acc ?? 'unknown accel'}; each in-process exec opens its own ctl connection (hello, EXEC, wait for EXIT)`);
    return { variants, checks, notes };
  },
};
