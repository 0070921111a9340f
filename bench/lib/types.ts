import type { Summary } from './stats.js';

export type Unit = 'ms' | 'MiB' | 'req/s';

/** One measured thing (a command, a library call, a process tree). */
export interface VariantResult {
  name: string;
  /** What exactly ran, for the reader of the report. */
  command: string;
  unit: Unit;
  /** The variant the others are compared with (ratio column). */
  baseline?: boolean;
  samples: number[];
  failures: string[];
  stats?: Summary;
  /** Median of this variant divided by the baseline's median. */
  ratio?: number;
  /** Median of per-round ratios against the baseline (same-round pairs). */
  pairedRatio?: number;
  extra?: Record<string, unknown>;
}

/** A target from the issue, checked against one variant. */
export interface Check {
  variant: string;
  target: string;
  metric: string;
  value: number;
  pass: boolean;
}

export interface BenchResult {
  id: string;
  title: string;
  status: 'ok' | 'error';
  error?: string;
  durationSec: number;
  variants: VariantResult[];
  checks: Check[];
  notes: string[];
  /** Machine noise while it ran. */
  noise?: {
    loadavgStart: number[];
    loadavgEnd: number[];
    foreignQemuStart: number;
    foreignQemuEnd: number;
    rounds: number;
    roundsBesideForeignQemu: number;
    quietWaitSec: number;
  };
}

/** What every benchmark file exports. */
export interface Benchmark {
  id: string;
  title: string;
  run(ctx: import('./context.js').BenchContext): Promise<Omit<BenchResult, 'id' | 'title' | 'status' | 'durationSec' | 'noise'>>;
}
