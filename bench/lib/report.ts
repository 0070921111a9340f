import type { BenchResult, Unit, VariantResult } from './types.js';

export function fmtValue(x: number | undefined, unit: Unit): string {
  if (x === undefined || !Number.isFinite(x)) return '—';
  if (unit === 'MiB') return `${x.toFixed(1)} MiB`;
  if (unit === 'req/s') return `${x.toFixed(0)} req/s`;
  if (x >= 1000) return `${(x / 1000).toFixed(2)} s`;
  return `${x >= 100 ? x.toFixed(0) : x.toFixed(1)} ms`;
}

interface Row {
  bench: string;
  variant: string;
  n: string;
  median: string;
  p95: string;
  ratio: string;
  target: string;
  result: string;
}

function rows(results: BenchResult[]): Row[] {
  const out: Row[] = [];
  for (const b of results) {
    if (b.status === 'error' && b.variants.length === 0) {
      out.push({ bench: b.title, variant: '—', n: '0', median: '—', p95: '—', ratio: '—', target: '—', result: 'ERROR' });
      continue;
    }
    b.variants.forEach((v: VariantResult, i) => {
      const check = b.checks.find((c) => c.variant === v.name);
      const fails = v.failures.length ? ` (+${v.failures.length} failed)` : '';
      out.push({
        bench: i === 0 ? b.title : '',
        variant: v.name,
        n: `${v.stats?.n ?? 0}${fails}`,
        median: fmtValue(v.stats?.median, v.unit),
        p95: fmtValue(v.stats?.p95, v.unit),
        ratio: v.baseline ? 'baseline' : v.ratio !== undefined ? `${v.ratio.toFixed(2)}×` : '—',
        target: check?.target ?? (v.unit !== 'ms' ? 'record' : b.checks.length ? '' : 'report'),
        result: b.status === 'error' ? 'ERROR' : check ? (check.pass ? 'PASS' : 'FAIL') : v.stats ? (v.unit !== 'ms' ? 'RECORDED' : 'INFO') : 'NO DATA',
      });
    });
  }
  return out;
}

const HEAD: Row = { bench: 'benchmark', variant: 'variant', n: 'n', median: 'median', p95: 'p95', ratio: 'ratio vs baseline', target: 'target', result: 'result' };
const KEYS = Object.keys(HEAD) as (keyof Row)[];

/** The results as a plain-text table for the terminal. */
export function textTable(results: BenchResult[]): string {
  const all = [HEAD, ...rows(results)];
  const width = KEYS.map((k) => Math.max(...all.map((r) => r[k].length)));
  const line = (r: Row) => KEYS.map((k, i) => r[k].padEnd(width[i]!)).join('  ').trimEnd();
  return [line(HEAD), width.map((w) => '-'.repeat(w)).join('  '), ...rows(results).map(line)].join('\n');
}

/** The same table in Markdown (for docs/benchmarks.md). */
export function markdownTable(results: BenchResult[]): string {
  const esc = (s: string) => s.replace(/\|/g, '\\|');
  const line = (r: Row) => `| ${KEYS.map((k) => esc(r[k])).join(' | ')} |`;
  return [line(HEAD), `|${KEYS.map(() => '---').join('|')}|`, ...rows(results).map(line)].join('\n');
}
