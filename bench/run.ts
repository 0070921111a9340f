/**
 * The nestbox benchmark suite: `npm run bench` (builds, then runs this file with tsx).
 * Knobs and what each benchmark measures: docs/benchmarks.md.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { detectAccel } from '../src/vm/qemu/accel.js';
import { bootVm } from './boot-vm.js';
import { runProcess } from './run-process.js';
import { execBench } from './exec.js';
import { memoryBench } from './memory.js';
import { cliStartup } from './cli-startup.js';
import { apiBench } from './api.js';
import { templateBench } from './template.js';
import { runtimeBench } from './runtime.js';
import { checkpointBench } from './checkpoint.js';
import { migrateBench } from './migrate.js';
import { densityBench } from './density.js';
import { poolBench } from './pool.js';
import { networkBench } from './network.js';
import { volumeReadBench, volumeWriteBench } from './volume.js';
import { sweep, type SweepReport } from './lib/cleanup.js';
import { loadConfig } from './lib/config.js';
import { BenchContext, REPO } from './lib/context.js';
import { foreignQemuCount, mountsUnder } from './lib/procfs.js';
import { markdownTable, textTable } from './lib/report.js';
import type { Benchmark, BenchResult } from './lib/types.js';

const BENCHMARKS: Benchmark[] = [bootVm, runProcess, execBench, memoryBench, cliStartup, apiBench, templateBench, runtimeBench, checkpointBench, densityBench, poolBench, networkBench, volumeWriteBench, volumeReadBench, migrateBench];

const log = (line: string) => process.stderr.write(`${line}\n`);

function version(cmd: string, args: string[]): string {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).split('\n')[0]!.trim();
  } catch {
    return 'not available';
  }
}

/** Fingerprint of the CLI bundle the benchmarks run: a rebuild mid-run would mix two builds. */
function cliFingerprint(): string {
  const f = path.join(REPO, 'dist', 'cli.bundle.cjs');
  return existsSync(f) ? createHash('sha256').update(readFileSync(f)).digest('hex').slice(0, 16) : 'missing';
}

function machine() {
  const accel = detectAccel();
  return {
    date: new Date().toISOString(),
    host: os.hostname(),
    cpus: os.cpus().length,
    cpuModel: os.cpus()[0]?.model ?? 'unknown',
    memGiB: +(os.totalmem() / 1024 ** 3).toFixed(1),
    kernel: `${os.type()} ${os.release()}`,
    node: process.version,
    qemu: version('qemu-system-x86_64', ['--version']),
    runc: version('runc', ['--version']),
    podman: version('podman', ['--version']),
    accel: accel.accel,
    accelReason: accel.reason,
    gitCommit: version('git', ['-C', REPO, 'rev-parse', '--short', 'HEAD']),
    /** Uncommitted changes outside bench/ and docs/ (what was measured is not exactly gitCommit). */
    gitDirty: gitDirty(),
    cliBundleSha256: cliFingerprint(),
  };
}

function gitDirty(): string[] {
  try {
    return execFileSync('git', ['-C', REPO, 'status', '--porcelain'], { encoding: 'utf8' })
      .split('\n')
      .filter((l) => l.trim() && !/ (bench|docs)\//.test(l))
      .map((l) => l.trim());
  } catch {
    return [];
  }
}

function selected(config: { only: string[] }): Benchmark[] {
  if (!config.only.length) return BENCHMARKS;
  // a number selects the benchmarks whose title it begins (`13` is 13a and 13b)
  return BENCHMARKS.filter((b) => config.only.includes(b.id) || config.only.includes(/^(\d+)/.exec(b.title)?.[1] ?? ''));
}

async function main(): Promise<number> {
  const started = Date.now();
  const config = loadConfig(path.join(REPO, 'bench', 'results', 'latest.json'));
  const ctx = new BenchContext(config, log);
  let finalSweep: SweepReport | undefined;
  let cleaning: Promise<void> | undefined;
  const finalCleanup = () => (cleaning ??= cleanUpEverything());
  const cleanUpEverything = async () => {
    await ctx.cleanupAll();
    await ctx.removeAllContainers().catch((e: Error) => log(`clean-up: nestbox rm -f: ${e.message}`));
    // the default network stays up after its last container: take it down with the workspace
    await ctx.nb(['network', 'prune', '-f']).catch((e: Error) => log(`clean-up: nestbox network prune: ${e.message}`));
    finalSweep = await sweep(ctx.tmp);
    if (mountsUnder(ctx.tmp).length) {
      log(`clean-up: ${ctx.tmp} still has mounts; not removing it`);
    } else if (!config.keepTmp) {
      rmSync(ctx.tmp, { recursive: true, force: true });
    }
  };
  for (const sig of ['SIGINT', 'SIGTERM'] as const) {
    process.on(sig, () => {
      if (!ctx.aborted) {
        ctx.aborted = true;
        log(`\n${sig}: finishing the current measurement, then cleaning up (again to stop at once)`);
        return;
      }
      log(`\n${sig}: cleaning up now…`);
      void finalCleanup().finally(() => process.exit(130));
    });
  }

  const info = machine();
  log(`nestbox benchmarks — ${info.date} — ${info.cpus}× ${info.cpuModel}, ${info.accel} (${info.accelReason})`);
  log(`workspace ${ctx.tmp}; config ${JSON.stringify({ ...config, out: undefined })}`);
  const results: BenchResult[] = [];
  let bundleAtStart = info.cliBundleSha256;
  if (info.gitDirty.length) log(`note: the work tree has uncommitted changes: ${info.gitDirty.join(', ')}`);
  for (const b of selected(config)) {
    if (ctx.aborted) break;
    log(`\n== ${b.title}`);
    const t0 = Date.now();
    const counters = { wait: ctx.quietWaitSec, noisy: ctx.noisyRounds, rounds: ctx.rounds };
    const noiseStart = { loadavgStart: os.loadavg().map((x) => +x.toFixed(2)), foreignQemuStart: foreignQemuCount(ctx.tmp) };
    let result: BenchResult;
    try {
      const r = await b.run(ctx);
      result = { id: b.id, title: b.title, status: 'ok', durationSec: 0, ...r };
      const failed = r.variants.filter((v) => !v.stats);
      if (failed.length) {
        result.status = 'error';
        result.error = `no successful measurement of: ${failed.map((v) => `${v.name} (${v.failures[0] ?? 'no runs'})`).join('; ')}`;
      }
    } catch (err) {
      log(`  ERROR: ${(err as Error).stack ?? err}`);
      result = { id: b.id, title: b.title, status: 'error', error: (err as Error).message, durationSec: 0, variants: [], checks: [], notes: [] };
    }
    const cleanupErrors = await ctx.cleanupAll();
    const bundleNow = cliFingerprint();
    if (bundleNow !== bundleAtStart) {
      result.notes.push(`WARNING: dist/cli.bundle.cjs changed during this benchmark (rebuilt by someone else: ${bundleAtStart} → ${bundleNow}); its samples mix two builds`);
      bundleAtStart = bundleNow;
    }
    result.notes.push(...cleanupErrors.map((e) => `clean-up: ${e}`));
    result.durationSec = +((Date.now() - t0) / 1000).toFixed(1);
    result.noise = {
      ...noiseStart,
      loadavgEnd: os.loadavg().map((x) => +x.toFixed(2)),
      foreignQemuEnd: foreignQemuCount(ctx.tmp),
      rounds: ctx.rounds - counters.rounds,
      roundsBesideForeignQemu: ctx.noisyRounds - counters.noisy,
      quietWaitSec: +(ctx.quietWaitSec - counters.wait).toFixed(1),
    };
    if (result.noise.roundsBesideForeignQemu) result.notes.push(`${result.noise.roundsBesideForeignQemu} of ${result.noise.rounds} rounds ran while other users' QEMU guests were running (noise)`);
    for (const n of result.notes) log(`  note: ${n}`);
    log(`  (${result.durationSec} s)`);
    results.push(result);
  }
  await finalCleanup();
  const durationSec = +((Date.now() - started) / 1000).toFixed(1);

  const report = {
    suite: 'nestbox benchmarks',
    machine: info,
    config: { ...config, out: undefined },
    durationSec,
    interrupted: ctx.aborted,
    cleanup: finalSweep,
    results,
  };
  mkdirSync(path.dirname(config.out), { recursive: true });
  writeFileSync(config.out, JSON.stringify(report, null, 2) + '\n');
  writeFileSync(config.out.replace(/\.json$/, '') + '.md', `${markdownTable(results)}\n`);

  process.stdout.write(`\n${textTable(results)}\n\n`);
  if (finalSweep?.leftoverProcesses.length || finalSweep?.leftoverMounts.length) {
    process.stdout.write(`LEAK: left behind after tear-down (now removed): ${JSON.stringify(finalSweep)}\n`);
  }
  for (const r of results.filter((x) => x.status === 'error')) process.stdout.write(`ERROR in ${r.title}: ${r.error}\n`);
  const shown = path.relative(process.cwd(), config.out);
  process.stdout.write(`total ${durationSec} s; results in ${shown.startsWith('..') ? config.out : shown}\n`);

  const errored = results.some((r) => r.status === 'error');
  const missed = results.some((r) => r.checks.some((c) => !c.pass));
  if (ctx.aborted) return 130;
  return errored || (config.strict && missed) ? 1 : 0;
}

process.exitCode = await main();
