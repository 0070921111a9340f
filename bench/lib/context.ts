import { existsSync, mkdtempSync } from 'node:fs';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Engine } from '../../src/index.js';
import { setTimeout as sleep } from 'node:timers/promises';
import type { BenchConfig } from './config.js';
import { foreignQemuCount } from './procfs.js';
import { sh, timeOk } from './timing.js';

export const REPO = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const NESTBOX = path.join(REPO, 'bin', 'nestbox');
export const GUEST_DIR = path.join(REPO, 'build', 'guest');
export const BUSYBOX_OCI = path.join(REPO, 'build', 'images', 'busybox.oci.tar');

/** Everything a benchmark gets: the temp workspace, a private nestbox root, the CLI, a log. */
export class BenchContext {
  /** Short on purpose: podman's sockets live below it and unix socket paths are short. */
  readonly tmp = mkdtempSync('/tmp/nbb-');
  readonly root = path.join(this.tmp, 'nb');
  /** Set by Ctrl-C: finish the current measurement, skip the rest, clean up. */
  aborted = false;
  private engineInstance?: Engine;
  /** Seconds spent waiting for other QEMUs to finish, and rounds that ran beside them anyway. */
  quietWaitSec = 0;
  noisyRounds = 0;
  rounds = 0;
  private readonly cleanups: { what: string; fn: () => Promise<unknown> }[] = [];

  constructor(readonly config: BenchConfig, readonly log: (line: string) => void) {
    if (!existsSync(path.join(REPO, 'dist', 'cli.bundle.cjs'))) {
      log('warning: dist/cli.bundle.cjs is missing, so bin/nestbox runs the TypeScript sources through tsx (slow start-up); run `npm run build`');
    }
  }

  /**
   * Called before every round: other users' TCG guests eat whole cores on this 2-core machine, so
   * wait (≤ 15 s a round, within BENCH_QUIET_BUDGET_SEC in all) while foreign QEMUs run, and
   * count the rounds that had to run beside them.
   */
  async beforeRound(): Promise<void> {
    this.rounds++;
    const t0 = Date.now();
    const budgetMs = () => this.config.quietBudgetSec * 1000 - this.quietWaitSec * 1000 - (Date.now() - t0);
    while (foreignQemuCount(this.tmp) > 0 && Date.now() - t0 < 15_000 && budgetMs() > 0 && !this.aborted) await sleep(250);
    this.quietWaitSec += (Date.now() - t0) / 1000;
    if (foreignQemuCount(this.tmp) > 0) this.noisyRounds++;
  }

  /** The in-process library on the same state root as the CLI. */
  get engine(): Engine {
    return (this.engineInstance ??= new Engine({ root: this.root }));
  }

  /** `bin/nestbox --root <root> …`, timed, failing on a non-zero exit. */
  nbTimed(args: string[], timeoutMs = 180_000): Promise<number> {
    return timeOk(NESTBOX, ['--root', this.root, ...args], { timeoutMs });
  }

  /** `bin/nestbox --root <root> …` for set-up; its stdout. */
  nb(args: string[], timeoutMs = 180_000): Promise<string> {
    return sh(NESTBOX, ['--root', this.root, ...args], { timeoutMs });
  }

  /** Register a tear-down step; steps run last-in first-out by `cleanupAll` (also on Ctrl-C). */
  defer(what: string, fn: () => Promise<unknown>): void {
    this.cleanups.push({ what, fn });
  }

  /** Run the registered tear-down steps now (each once); failures are logged and returned. */
  async cleanupAll(): Promise<string[]> {
    const errors: string[] = [];
    while (this.cleanups.length) {
      const c = this.cleanups.pop()!;
      try {
        await c.fn();
      } catch (err) {
        errors.push(`${c.what}: ${(err as Error).message}`);
        this.log(`  clean-up ${c.what}: ${(err as Error).message}`);
      }
    }
    return errors;
  }

  /** Remove every nestbox container of the root (rm -f), as a user would. */
  async removeAllContainers(): Promise<void> {
    const ids = (await this.nb(['ps', '-aq', '--no-trunc']).catch(() => '')).split('\n').filter(Boolean);
    if (ids.length) await this.nb(['rm', '-f', ...ids]);
  }
}
