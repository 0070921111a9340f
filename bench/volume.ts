/**
 * 13. Volume I/O: sequential write (64 MiB, fsync'd) and read (64 MiB, caches dropped first) of a
 * `local` (ext4 image) volume from inside a VM-isolated and a process-isolated container, beside
 * the same `dd` on the host file system that holds the volume images. Containers time `dd` with
 * busybox `time` (10 ms resolution); the host `dd` is timed from spawn to exit.
 */
import { writeFileSync } from 'node:fs';
import * as path from 'node:path';
import type { BenchContext } from './lib/context.js';
import { interleave } from './lib/interleave.js';
import { timeOk } from './lib/timing.js';
import type { Benchmark } from './lib/types.js';

const MIB = 64;

async function up(ctx: BenchContext, name: string, isolation: 'vm' | 'process'): Promise<void> {
  ctx.defer(`rm -f ${name}`, () => ctx.nb(['rm', '-f', '-v', name]).catch(() => undefined));
  ctx.defer(`volume rm ${name}`, () => ctx.nb(['volume', 'rm', name]).catch(() => undefined));
  await ctx.nb(['volume', 'create', name]);
  await ctx.nb(['run', '-d', '--name', name, `--isolation=${isolation}`, '-v', `${name}:/v`, 'busybox', 'sleep', '86400']);
}

async function inContainer(ctx: BenchContext, name: string, script: string): Promise<number> {
  const out = await ctx.nb(['exec', name, 'sh', '-c', `{ time sh -c '${script}' ; } 2>&1 | tail -3`], 120_000);
  const m = /real\s+(\d+)m\s*([\d.]+)s/.exec(out);
  if (!m) throw new Error(`no timing in: ${out}`);
  return (Number(m[1]) * 60 + Number(m[2])) * 1000;
}

const write = `dd if=/dev/zero of=/v/f bs=1M count=${MIB} conv=fsync 2>/dev/null`;
const read = 'dd if=/v/f of=/dev/null bs=1M 2>/dev/null';
/** The host's page cache holds the volume image's blocks: drop it so a read reaches the disk everywhere. */
const dropHostCaches = () => writeFileSync('/proc/sys/vm/drop_caches', '3');

export const volumeWriteBench: Benchmark = {
  id: 'volume-write',
  title: `13a. Volume sequential write, ${MIB} MiB + fsync: guest vs host`,
  async run(ctx) {
    await up(ctx, 'nbb-volvm', 'vm');
    await up(ctx, 'nbb-volp', 'process');
    const hostFile = path.join(ctx.root, 'volumes', 'host-baseline');
    const variants = await interleave(
      [
        { name: 'host dd (same file system)', command: `dd if=/dev/zero of=<root>/volumes/host-baseline bs=1M count=${MIB} conv=fsync`, baseline: true,
          run: () => timeOk('dd', ['if=/dev/zero', `of=${hostFile}`, 'bs=1M', `count=${MIB}`, 'conv=fsync', 'status=none']) },
        { name: 'vm: dd to a local volume', command: `nestbox exec nbb-volvm ${write}`, run: () => inContainer(ctx, 'nbb-volvm', write) },
        { name: 'process: dd to a local volume', command: `nestbox exec nbb-volp ${write}`, run: () => inContainer(ctx, 'nbb-volp', write) },
      ],
      { rounds: Math.max(3, Math.min(ctx.config.execRounds, 5)), warmup: 1, log: ctx.log, stop: () => ctx.aborted },
    );
    return { variants, checks: [], notes: throughputNotes(variants) };
  },
};

export const volumeReadBench: Benchmark = {
  id: 'volume-read',
  title: `13b. Volume sequential read, ${MIB} MiB, caches dropped: guest vs host`,
  async run(ctx) {
    await up(ctx, 'nbb-volvm', 'vm');
    await up(ctx, 'nbb-volp', 'process');
    const hostFile = path.join(ctx.root, 'volumes', 'host-baseline');
    await timeOk('dd', ['if=/dev/zero', `of=${hostFile}`, 'bs=1M', `count=${MIB}`, 'conv=fsync', 'status=none']);
    for (const c of ['nbb-volvm', 'nbb-volp']) await inContainer(ctx, c, write);
    const variants = await interleave(
      [
        { name: 'host dd (same file system)', command: `dd if=<root>/volumes/host-baseline of=/dev/null bs=1M (host caches dropped)`, baseline: true,
          run: async () => { dropHostCaches(); return timeOk('dd', [`if=${hostFile}`, 'of=/dev/null', 'bs=1M', 'status=none']); } },
        { name: 'vm: dd from a local volume', command: `nestbox exec nbb-volvm ${read} (guest and host caches dropped)`,
          run: async () => { await ctx.nb(['exec', 'nbb-volvm', 'sh', '-c', 'echo 3 > /proc/sys/vm/drop_caches']); dropHostCaches(); return inContainer(ctx, 'nbb-volvm', read); } },
        { name: 'process: dd from a local volume', command: `nestbox exec nbb-volp ${read} (host caches dropped)`,
          run: async () => { dropHostCaches(); return inContainer(ctx, 'nbb-volp', read); } },
      ],
      { rounds: Math.max(3, Math.min(ctx.config.execRounds, 5)), warmup: 1, log: ctx.log, stop: () => ctx.aborted },
    );
    return { variants, checks: [], notes: throughputNotes(variants) };
  },
};

function throughputNotes(variants: { name: string; stats?: { median: number }; ratio?: number }[]): string[] {
  return variants.flatMap((v) => (v.stats ? [`${v.name}: ${(MIB / (v.stats.median / 1000)).toFixed(0)} MiB/s (time ${v.ratio?.toFixed(2) ?? '1.00'}× the host's)`] : []))
    .concat('container times come from busybox `time` inside the guest (10 ms resolution) and include starting dd there; the host time includes spawning dd');
}
