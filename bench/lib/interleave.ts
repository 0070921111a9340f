import { summarize, pairedRatio } from './stats.js';
import type { Unit, VariantResult } from './types.js';

export interface Variant {
  name: string;
  command: string;
  unit?: Unit;
  baseline?: boolean;
  /** Measurements per round (default 1). */
  perRound?: number;
  /** One measurement (milliseconds, or MiB). */
  run: (round: number) => Promise<number>;
}

export interface InterleaveOptions {
  rounds: number;
  warmup: number;
  log: (line: string) => void;
  /** Awaited before every round (e.g. wait for a quieter machine). */
  beforeRound?: () => Promise<void>;
  /** Checked before every measurement: stop early (Ctrl-C). */
  stop?: () => boolean;
  /** Give up on a variant after this many failures in a row. */
  maxConsecutiveFailures?: number;
}

/**
 * Run the variants round by round (A,B,C, then B,C,A, …: the order rotates so neither gains
 * from always going first), so machine noise falls on all of them alike. A failing run is
 * recorded and the others go on.
 */
export async function interleave(variants: Variant[], o: InterleaveOptions): Promise<VariantResult[]> {
  const results: VariantResult[] = variants.map((v) => ({
    name: v.name,
    command: v.command,
    unit: v.unit ?? 'ms',
    ...(v.baseline ? { baseline: true } : {}),
    samples: [],
    failures: [],
  }));
  const streak = variants.map(() => 0);
  const maxFail = o.maxConsecutiveFailures ?? 3;
  for (let w = 0; w < o.warmup; w++) {
    for (const [i, v] of variants.entries()) {
      if (o.stop?.()) break;
      try {
        await v.run(-1 - w);
      } catch (err) {
        results[i]!.failures.push(`warm-up: ${(err as Error).message}`);
        o.log(`  warm-up ${v.name}: FAILED ${(err as Error).message}`);
      }
    }
  }
  for (let r = 0; r < o.rounds && !o.stop?.(); r++) {
    await o.beforeRound?.();
    const parts: string[] = [];
    for (let k = 0; k < variants.length; k++) {
      const i = (r + k) % variants.length;
      const v = variants[i]!;
      const res = results[i]!;
      if (streak[i]! >= maxFail) continue;
      const per = v.perRound ?? 1;
      const got: number[] = [];
      for (let j = 0; j < per && !o.stop?.(); j++) {
        try {
          const x = await v.run(r);
          res.samples.push(x);
          got.push(x);
          streak[i] = 0;
        } catch (err) {
          res.failures.push(`round ${r + 1}: ${(err as Error).message}`);
          streak[i]!++;
          o.log(`  round ${r + 1} ${v.name}: FAILED ${(err as Error).message}`);
          if (streak[i]! >= maxFail) o.log(`  giving up on ${v.name} after ${maxFail} failures in a row`);
          break;
        }
      }
      if (got.length) parts.push(`${v.name}=${fmt(got.reduce((a, b) => a + b, 0) / got.length)}`);
    }
    o.log(`  round ${r + 1}/${o.rounds}: ${parts.join('  ')}`);
  }
  finish(results);
  return results;
}

function fmt(x: number): string {
  return x >= 100 ? x.toFixed(0) : x.toFixed(1);
}

/** Fill in stats and ratios against the baseline variant. */
export function finish(results: VariantResult[]): void {
  for (const r of results) {
    const s = summarize(r.samples);
    if (s) r.stats = s;
  }
  const base = results.find((r) => r.baseline);
  if (!base?.stats) return;
  for (const r of results) {
    if (r === base || !r.stats) continue;
    r.ratio = r.stats.median / base.stats.median;
    if (r.samples.length === base.samples.length) {
      const pr = pairedRatio(r.samples, base.samples);
      if (pr !== undefined) r.pairedRatio = pr;
    }
  }
}
