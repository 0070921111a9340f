/**
 * 12. Network: TCP throughput (time to fetch 16 MiB from busybox httpd) and round-trip latency (a fresh TCP
 * connection + a tiny HTTP exchange), container <-> container over one bridge and host <->
 * published port (DNAT on 127.0.0.1), VM-isolated versus process-isolated, side by side.
 * Containers talk with busybox `nc` and `httpd`; the host side is Node's `net`.
 */
import * as net from 'node:net';
import type { BenchContext } from './lib/context.js';
import { interleave } from './lib/interleave.js';
import type { Benchmark } from './lib/types.js';

const MIB = 16;
const NET = 'nbb-net';

async function up(ctx: BenchContext, name: string, isolation: 'vm' | 'process', port: number): Promise<void> {
  ctx.defer(`rm -f ${name}`, () => ctx.nb(['rm', '-f', name]).catch(() => undefined));
  // httpd serves a 1-byte file (latency) and a MIB MiB one (throughput): always listening, no race
  await ctx.nb(['run', '-d', '--name', name, `--isolation=${isolation}`, '--network', NET, '-p', `127.0.0.1:${port}:80`, 'busybox', 'sh', '-c',
    `mkdir -p /w && echo x > /w/i && dd if=/dev/zero of=/w/big bs=1M count=${MIB} 2>/dev/null && httpd -f -p 80 -h /w`]);
}

/** Run `script` in the container under busybox's `time` (busybox `date` has no %N): wall milliseconds, 10 ms resolution. */
async function timedInContainer(ctx: BenchContext, name: string, script: string): Promise<number> {
  const out = await ctx.nb(['exec', name, 'sh', '-c', `{ time sh -c '${script}' ; } 2>&1 | tail -3`], 60_000);
  const m = /real\s+(\d+)m\s*([\d.]+)s/.exec(out);
  if (!m) throw new Error(`no timing in: ${out}`);
  return (Number(m[1]) * 60 + Number(m[2])) * 1000;
}

/** Milliseconds for the client container to fetch MIB MiB from `peer`'s httpd (checked: every byte arrived). */
async function c2cThroughput(ctx: BenchContext, client: string, peer: string): Promise<number> {
  const get = `printf "GET /big HTTP/1.0\\r\\n\\r\\n" | nc ${peer} 80`;
  const size = Number((await ctx.nb(['exec', client, 'sh', '-c', `${get} | wc -c`], 60_000)).trim());
  if (size < MIB * 1024 * 1024) throw new Error(`fetched ${size} bytes from ${peer}, not ${MIB} MiB`);
  return timedInContainer(ctx, client, `${get} >/dev/null`);
}

/** Milliseconds per HTTP GET over a fresh connection, from the client container to `peer` (20 in a row). */
async function c2cLatency(ctx: BenchContext, client: string, peer: string): Promise<number> {
  return (await timedInContainer(ctx, client, `for i in $(seq 20); do printf "GET /i HTTP/1.0\\r\\n\\r\\n" | nc ${peer} 80 >/dev/null; done`)) / 20;
}

/** Host -> published port: milliseconds to fetch MIB MiB from the container's httpd. */
async function hostThroughput(port: number): Promise<number> {
  const t0 = performance.now();
  const bytes = await new Promise<number>((resolve, reject) => {
    let n = 0;
    const s = net.connect(port, '127.0.0.1', () => s.write('GET /big HTTP/1.0\r\n\r\n'));
    s.on('data', (d: Buffer) => (n += d.length)).once('close', () => resolve(n)).once('error', reject);
  });
  if (bytes < MIB * 1024 * 1024) throw new Error(`fetched ${bytes} bytes, not ${MIB} MiB`);
  return performance.now() - t0;
}

/** Host -> published port: milliseconds for one HTTP GET over a fresh connection (median of 20). */
async function hostLatency(port: number): Promise<number> {
  const times: number[] = [];
  for (let i = 0; i < 20; i++) {
    const t0 = performance.now();
    await new Promise<void>((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1', () => s.end('GET /i HTTP/1.0\r\n\r\n'));
      s.on('data', () => undefined).once('close', () => resolve()).once('error', reject);
    });
    times.push(performance.now() - t0);
  }
  return times.sort((a, b) => a - b)[10]!;
}

export const networkBench: Benchmark = {
  id: 'network',
  title: '12. Network: TCP throughput and latency, container <-> container and host <-> published port',
  async run(ctx) {
    const notes: string[] = [];
    const base = 30000 + Math.floor(Math.random() * 20000);
    ctx.defer(`network rm ${NET}`, () => ctx.nb(['network', 'rm', NET]).catch(() => undefined));
    await ctx.nb(['network', 'create', NET]);
    await up(ctx, 'nbb-vm1', 'vm', base);
    await up(ctx, 'nbb-vm2', 'vm', base + 1);
    await up(ctx, 'nbb-p1', 'process', base + 2);
    await up(ctx, 'nbb-p2', 'process', base + 3);
    const opts = { rounds: Math.max(2, Math.min(ctx.config.execRounds, 3)), warmup: 0, log: ctx.log, stop: () => ctx.aborted };
    const variants = await interleave(
      [
        { name: `c2c ${MIB} MiB, process -> process`, command: 'GET /big | nc nbb-p2 80 (in nbb-p1; busybox httpd)', baseline: true, run: () => c2cThroughput(ctx, 'nbb-p1', 'nbb-p2') },
        { name: `c2c ${MIB} MiB, vm -> vm`, command: 'GET /big | nc nbb-vm2 80 (in nbb-vm1; busybox httpd)', run: () => c2cThroughput(ctx, 'nbb-vm1', 'nbb-vm2') },
        { name: `host -> published port, ${MIB} MiB, process`, command: `node: GET /big from 127.0.0.1:${base + 2} (DNAT)`, run: () => hostThroughput(base + 2) },
        { name: `host -> published port, ${MIB} MiB, vm`, command: `node: GET /big from 127.0.0.1:${base} (DNAT)`, run: () => hostThroughput(base) },
        { name: 'c2c HTTP GET (new connection), process', command: 'printf GET | nc nbb-p2 80 (in nbb-p1), mean of 20', run: () => c2cLatency(ctx, 'nbb-p1', 'nbb-p2') },
        { name: 'c2c HTTP GET (new connection), vm', command: 'printf GET | nc nbb-vm2 80 (in nbb-vm1), mean of 20', run: () => c2cLatency(ctx, 'nbb-vm1', 'nbb-vm2') },
        { name: 'host -> published port HTTP GET, process', command: `node: connect 127.0.0.1:${base + 2}, GET, close; median of 20`, run: () => hostLatency(base + 2) },
        { name: 'host -> published port HTTP GET, vm', command: `node: connect 127.0.0.1:${base}, GET, close; median of 20`, run: () => hostLatency(base) },
      ],
      opts,
    );
    for (const v of variants) {
      if (v.name.includes('MiB') && v.stats) notes.push(`${v.name}: ${(MIB / (v.stats.median / 1000)).toFixed(1)} MiB/s`);
    }
    const med = (i: number) => variants[i]?.stats?.median;
    const ratio = (a: number, b: number) => (med(a) && med(b) ? (med(a)! / med(b)!).toFixed(2) : 'n/a');
    notes.push(`vm/process time ratios: c2c throughput ${ratio(1, 0)}, host->port throughput ${ratio(3, 2)}, c2c latency ${ratio(5, 4)}, host->port latency ${ratio(7, 6)}`);
    notes.push('c2c latency includes starting busybox nc in the client (fork+exec, slow under TCG in the VM)');
    return { variants, checks: [], notes };
  },
};
