import { setTimeout as sleep } from 'node:timers/promises';
import { mountsUnder, processesUnder } from './procfs.js';
import { timedSpawn } from './timing.js';

export interface SweepReport {
  /** Processes still there after the benchmark's own tear-down (they were then killed). */
  leftoverProcesses: string[];
  /** Mounts still there after the tear-down (they were then unmounted). */
  leftoverMounts: string[];
}

/**
 * The safety net after all tear-down: nothing of ours (cmdline, cwd or root under `prefix`)
 * may still run, nothing may stay mounted under it. Whatever is found is reported (a leak is a
 * finding) and then removed: processes by pid, mounts by path.
 */
export async function sweep(prefix: string, graceMs = 10_000): Promise<SweepReport> {
  const deadline = Date.now() + graceMs;
  let procs = processesUnder(prefix);
  while (procs.length && Date.now() < deadline) {
    await sleep(200);
    procs = processesUnder(prefix);
  }
  const leftoverProcesses = procs.map((p) => `${p.pid}: ${p.cmd.slice(0, 200)}`);
  for (const p of procs) {
    try {
      process.kill(p.pid, 'SIGKILL');
    } catch {
      // gone meanwhile
    }
  }
  if (procs.length) await sleep(500);
  const leftoverMounts = mountsUnder(prefix);
  for (const m of leftoverMounts) {
    const r = await timedSpawn('umount', [m]).catch(() => undefined);
    if (r?.code !== 0) await timedSpawn('umount', ['-l', m]).catch(() => undefined);
  }
  return { leftoverProcesses, leftoverMounts };
}
