/**
 * 6. The Docker Engine API (`nestbox serve`):
 *  a) `docker run --rm busybox true` through the server versus `nestbox run --rm busybox true`
 *     (process isolation, interleaved; a few VM rounds too);
 *  b) requests per second and latency of `GET /containers/json?all=1` with 100 containers,
 *     from Node over the unix socket (keep-alive, fixed concurrency, bounded time and count).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import * as http from 'node:http';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchContext } from './lib/context.js';
import { NESTBOX } from './lib/context.js';
import { finish, interleave } from './lib/interleave.js';
import { timeAsync, timeOk, sh } from './lib/timing.js';
import type { Benchmark, VariantResult } from './lib/types.js';

export const DOCKER = '/usr/local/bin/docker';
export const TARGET_API_RATIO = 1.1;
const LIST_PATH = '/v1.47/containers/json?all=1';

interface HttpReply {
  status: number;
  body: Buffer;
}

/** One HTTP request over the server's unix socket. */
function request(agent: http.Agent, socketPath: string, method: string, urlPath: string, body?: unknown): Promise<HttpReply> {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = http.request(
      {
        socketPath,
        agent,
        method,
        path: urlPath,
        headers: { Host: 'docker', ...(data ? { 'Content-Type': 'application/json', 'Content-Length': data.length } : {}) },
        timeout: 30_000,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks) }));
        res.on('error', reject);
      },
    );
    req.on('timeout', () => req.destroy(new Error(`${method} ${urlPath}: no answer within 30 s`)));
    req.on('error', reject);
    req.end(data);
  });
}

interface Server {
  pid: number;
  logFile: string;
  /** SIGTERM, wait for the exit (SIGKILL after 10 s); a description of how it ended. */
  stop(): Promise<string>;
}

function tail(file: string, lines = 5): string {
  try {
    return readFileSync(file, 'utf8').trim().split('\n').slice(-lines).join(' | ');
  } catch {
    return '';
  }
}

function exited(child: ChildProcess, ms: number): Promise<boolean> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(true);
  return new Promise((resolve) => {
    const t = setTimeout(() => resolve(false), ms);
    child.once('exit', () => {
      clearTimeout(t);
      resolve(true);
    });
  });
}

/** `nestbox --root <root> serve -H unix://<sock>` in the background, ready when /_ping answers. */
async function startServer(ctx: BenchContext, sock: string, agent: http.Agent): Promise<Server> {
  const logFile = path.join(ctx.tmp, 'serve.log');
  const fd = openSync(logFile, 'a');
  const child = spawn(NESTBOX, ['--root', ctx.root, 'serve', '-H', `unix://${sock}`], { stdio: ['ignore', fd, fd] });
  closeSync(fd);
  const server: Server = {
    pid: child.pid!,
    logFile,
    async stop() {
      if (child.exitCode !== null || child.signalCode !== null) return `had already exited (${child.exitCode ?? child.signalCode}): ${tail(logFile)}`;
      const t0 = Date.now();
      child.kill('SIGTERM');
      if (await exited(child, 10_000)) {
        const how = `exited ${child.exitCode ?? child.signalCode} ${Date.now() - t0} ms after SIGTERM`;
        return existsSync(sock) ? `${how}, but left its socket ${sock} behind` : how;
      }
      child.kill('SIGKILL');
      await exited(child, 5_000);
      return `did not exit within 10 s of SIGTERM; killed`;
    },
  };
  ctx.defer('stop nestbox serve', async () => {
    const how = await server.stop();
    ctx.log(`  nestbox serve ${how}`);
    if (!/^exited 0 /.test(how) || how.includes('left')) throw new Error(`nestbox serve ${how}`);
  });
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (child.exitCode !== null || child.signalCode !== null) throw new Error(`nestbox serve exited (${child.exitCode ?? child.signalCode}): ${tail(logFile)}`);
    const ok = await request(agent, sock, 'GET', '/_ping').then((r) => r.status === 200, () => false);
    if (ok) return server;
    if (Date.now() > deadline) throw new Error(`nestbox serve did not answer /_ping within 30 s: ${tail(logFile)}`);
    await sleep(50);
  }
}

/** CPU seconds (user + system) of a process so far. */
function cpuSeconds(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(f[11]) + Number(f[12])) / 100; // utime, stime in clock ticks (USER_HZ = 100)
}

function rssMiB(pid: number): number {
  const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
  return m ? Number(m[1]) / 1024 : NaN;
}

async function listed(agent: http.Agent, sock: string): Promise<unknown[]> {
  const r = await request(agent, sock, 'GET', LIST_PATH);
  if (r.status !== 200) throw new Error(`GET ${LIST_PATH}: ${r.status} ${r.body.toString().slice(0, 200)}`);
  return JSON.parse(r.body.toString()) as unknown[];
}

export const apiBench: Benchmark = {
  id: 'api',
  title: '6. Docker API (nestbox serve): docker run vs nestbox run; GET /containers/json',
  async run(ctx) {
    const notes: string[] = [];
    const sock = path.join(ctx.tmp, 'docker.sock');
    const agent = new http.Agent({ keepAlive: true, maxSockets: ctx.config.apiListConcurrency });
    ctx.defer('http agent', async () => agent.destroy());
    // remove every container of the root with the server still up (tear-down runs last-in first-out)
    const server = await startServer(ctx, sock, agent);
    ctx.defer('rm -f all containers', () => ctx.removeAllContainers());

    const dockerConfig = path.join(ctx.tmp, 'docker-config');
    mkdirSync(dockerConfig, { recursive: true });
    const env: NodeJS.ProcessEnv = { ...process.env, DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: dockerConfig, DOCKER_CLI_HINTS: 'false' };
    delete env.DOCKER_CONTEXT;
    const docker = (args: string[], timeoutMs: number) => timeOk(DOCKER, args, { env, timeoutMs });
    const versions = await sh(DOCKER, ['version', '--format', 'client {{.Client.Version}} (API {{.Client.APIVersion}}), server {{.Server.Version}} (API {{.Server.APIVersion}})'], { env, timeoutMs: 30_000 }).catch((e: Error) => `docker version failed: ${e.message}`);

    // a) the same run through the API and through the CLI
    const pair = (isolation: 'process' | 'vm', timeoutMs: number) => {
      const flag = isolation === 'process' ? ['--isolation=process'] : [];
      return [
        {
          name: `nestbox run --rm (${isolation})`,
          command: `nestbox --root $TMP run --rm ${flag.join(' ')} busybox true`.replace('  ', ' '),
          baseline: true,
          run: () => ctx.nbTimed(['run', '--rm', ...flag, 'busybox', 'true'], timeoutMs),
        },
        {
          name: `docker run --rm (${isolation}) → nestbox serve`,
          command: `DOCKER_HOST=unix://$TMP/docker.sock docker run --rm ${flag.join(' ')} busybox true`.replace('  ', ' '),
          run: () => docker(['run', '--rm', ...flag, 'busybox', 'true'], timeoutMs),
        },
      ];
    };
    const opts = { warmup: ctx.config.warmup, log: ctx.log, stop: () => ctx.aborted, beforeRound: () => ctx.beforeRound() };
    const variants: VariantResult[] = await interleave(pair('process', 60_000), { ...opts, rounds: ctx.config.apiRuns });
    if (ctx.config.apiVmRuns > 0 && !ctx.aborted) {
      ctx.log(`  VM isolation, ${ctx.config.apiVmRuns} rounds:`);
      variants.push(...(await interleave(pair('vm', 180_000), { ...opts, rounds: ctx.config.apiVmRuns })));
    }
    const checks = [];
    const apiProc = variants[1]!;
    if (apiProc.ratio !== undefined) {
      checks.push({ variant: apiProc.name, target: `≤ ${TARGET_API_RATIO.toFixed(2)}× nestbox run (median)`, metric: 'median ratio', value: apiProc.ratio, pass: apiProc.ratio <= TARGET_API_RATIO });
    }
    for (const v of variants.filter((x) => !x.baseline && x.ratio !== undefined)) {
      const base = variants[variants.indexOf(v) - 1]!;
      notes.push(`${v.name}: ${(v.stats!.median - base.stats!.median).toFixed(0)} ms median difference, per-round ratio median ${v.pairedRatio?.toFixed(2) ?? '—'}×`);
    }
    notes.push(`docker CLI ${DOCKER}: ${versions.trim()}; DOCKER_CONFIG in the temp dir`);

    // b) GET /containers/json?all=1 with N created containers
    if (!ctx.aborted) {
      const n = ctx.config.apiListContainers;
      const left = await listed(agent, sock);
      if (left.length) {
        notes.push(`WARNING: ${left.length} containers were left after the docker run --rm / nestbox run --rm rounds; removed before part b`);
        await ctx.removeAllContainers();
      }
      const createMs: number[] = [];
      for (let i = 0; i < n && !ctx.aborted; i++) {
        createMs.push(await timeAsync(async () => {
          const r = await request(agent, sock, 'POST', `/v1.47/containers/create?name=nbb-api-list-${i + 1}`, { Image: 'busybox', Cmd: ['true'], HostConfig: { Isolation: 'process' } });
          if (r.status !== 201) throw new Error(`POST /containers/create: ${r.status} ${r.body.toString().slice(0, 200)}`);
        }));
      }
      const count = (await listed(agent, sock)).length;
      if (count !== n) throw new Error(`GET ${LIST_PATH} lists ${count} containers, expected ${n}`);
      const createSorted = [...createMs].sort((a, b) => a - b);
      notes.push(`part b: ${n} containers created (not started, --isolation=process) through POST /containers/create: ${(createMs.reduce((a, b) => a + b, 0) / 1000).toFixed(1)} s in all, median ${createSorted[Math.floor(n / 2)]!.toFixed(1)} ms each`);

      const lat: VariantResult = { name: `GET /containers/json?all=1 (${n} containers): latency`, command: '', unit: 'ms', samples: [], failures: [] };
      const rps: VariantResult = { name: `GET /containers/json?all=1 (${n} containers): throughput`, command: '', unit: 'req/s', samples: [], failures: [] };
      const conc = ctx.config.apiListConcurrency;
      lat.command = `node http.request over unix://$TMP/docker.sock, keep-alive agent, ${conc} concurrent, ≤ ${ctx.config.apiListSec} s or ${ctx.config.apiListMaxRequests} requests`;
      rps.command = `${lat.command}; one sample per whole second of the burst`;
      // warm-up: open the connections, let the server's JIT settle
      await Promise.all(Array.from({ length: conc }, async () => {
        for (let i = 0; i < 5; i++) await request(agent, sock, 'GET', LIST_PATH);
      }));
      await ctx.beforeRound();
      const cpu0 = cpuSeconds(server.pid);
      const t0 = process.hrtime.bigint();
      const deadline = Date.now() + ctx.config.apiListSec * 1000;
      const doneAt: number[] = [];
      let issued = 0;
      let firstLen = -1;
      const worker = async () => {
        while (Date.now() < deadline && issued < ctx.config.apiListMaxRequests && lat.failures.length < 20 && !ctx.aborted) {
          const k = issued++;
          const s = process.hrtime.bigint();
          try {
            const r = await request(agent, sock, 'GET', LIST_PATH);
            const e = process.hrtime.bigint();
            if (r.status !== 200) throw new Error(`status ${r.status}: ${r.body.toString().slice(0, 200)}`);
            if (firstLen < 0 || k % 100 === 0) {
              const len = (JSON.parse(r.body.toString()) as unknown[]).length;
              if (len !== n) throw new Error(`listed ${len} containers, expected ${n}`);
              firstLen = r.body.length;
            }
            lat.samples.push(+(Number(e - s) / 1e6).toFixed(3));
            doneAt.push(Number(e - t0) / 1e6);
          } catch (err) {
            lat.failures.push(`request ${k + 1}: ${(err as Error).message}`);
          }
        }
      };
      await Promise.all(Array.from({ length: conc }, worker));
      const elapsedMs = Number(process.hrtime.bigint() - t0) / 1e6;
      const serverCpu = cpuSeconds(server.pid) - cpu0;
      const total = lat.samples.length;
      for (let sec = 0; (sec + 1) * 1000 <= elapsedMs; sec++) rps.samples.push(doneAt.filter((t) => t >= sec * 1000 && t < (sec + 1) * 1000).length);
      finish([lat]);
      finish([rps]);
      const overall = total / (elapsedMs / 1000);
      rps.extra = { overallReqPerSec: +overall.toFixed(1), requests: total, elapsedMs: +elapsedMs.toFixed(0), concurrency: conc, responseBytes: firstLen, serverCpuSec: +serverCpu.toFixed(2) };
      variants.push(lat, rps);
      ctx.log(`  ${total} requests in ${(elapsedMs / 1000).toFixed(2)} s: ${overall.toFixed(0)} req/s, p50 ${lat.stats?.median.toFixed(1)} ms, p95 ${lat.stats?.p95.toFixed(1)} ms`);
      notes.push(`part b: ${total} requests (+${lat.failures.length} failed) in ${(elapsedMs / 1000).toFixed(2)} s = ${overall.toFixed(0)} req/s overall, ${conc} concurrent over keep-alive connections; each response ${(firstLen / 1024).toFixed(1)} KiB; the server used ${serverCpu.toFixed(2)} CPU-s (${((serverCpu / (elapsedMs / 1000)) * 100).toFixed(0)}% of a core), the client runs in the benchmark's own Node process on the same 2 cores; server RSS afterwards ${rssMiB(server.pid).toFixed(0)} MiB`);
      const rmMs = await timeAsync(() => ctx.removeAllContainers());
      notes.push(`part b: removing the ${n} containers (one nestbox rm -f) took ${(rmMs / 1000).toFixed(1)} s`);
    }
    return { variants, checks, notes };
  },
};
