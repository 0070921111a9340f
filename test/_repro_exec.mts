import { Engine } from '../src/core/engine.js';
const root = process.env.REPRO_ROOT ?? '/tmp/nb-exec-repro';
const N = Number(process.env.REPRO_N ?? 2000);
const e = new Engine({ root });
const c = await e.create({ image: 'busybox', cmd: ['sleep', '100000'] });
await e.start(c.config.id);
console.log('dir', root, c.config.id);
let stalls = 0, slow = 0; const t0 = Date.now();
try {
  for (let i = 0; i < N; i++) {
    const t = Date.now();
    try {
      const r = await e.exec(c.config.id, { args: ['true'], env: ['PATH=/bin'], cwd: '/', tty: false, stdin: false }, { onOutput: () => {} });
      if (Date.now() - t > 1000 || r.exitCode) { slow++; console.log(i, Date.now() - t, r); }
    } catch (err) { stalls++; console.log(i, Date.now() - t, String(err)); }
  }
} finally {
  console.log(`done ${N} execs in ${Date.now() - t0} ms, errors=${stalls} slow=${slow}`);
  if (!process.env.REPRO_KEEP) await e.remove(c.config.id, { force: true });
}
