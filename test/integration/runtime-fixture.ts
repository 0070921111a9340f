// Shared by the runtime-*.test.ts files: a private nestbox-runtime root and a private podman
// (its own storage, run root and tmp dir; busybox loaded from the set-up's OCI archive).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO, processesMatching, runCommand, type CliResult, type RunOptions } from '../helpers/cli.js';

export const RUNTIME = path.join(REPO, 'bin', 'nestbox-runtime');
export const BUSYBOX_ARCHIVE = path.join(REPO, 'build', 'images', 'busybox.oci.tar');
/** podman 4.3's default rlimits exceed this sandbox's hard limits (see DESIGN.md). */
export const ULIMITS = ['--ulimit', 'nofile=1024:1024', '--ulimit', 'nproc=1024:1024'];

export class RuntimeRoot {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'nestbox-rt-'));
  readonly root = path.join(this.dir, 'root');
  readonly log = path.join(this.dir, 'runtime.log');

  /** nestbox-runtime with this root and a JSON log. */
  rt(args: string[], opts: RunOptions = {}): Promise<CliResult> {
    return runCommand(RUNTIME, ['--root', this.root, '--log', this.log, '--log-format', 'json', ...args], opts);
  }

  /** The JSON lines of the log (each must parse). */
  logLines(): { level: string; msg: string; time: string }[] {
    if (!existsSync(this.log)) return [];
    return readFileSync(this.log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: string; msg: string; time: string });
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A podman of its own whose containers run with nestbox-runtime. The runtime keeps its default
 * root: podman's clean-up process (which runs `delete`) does not get `--runtime-flag`s.
 */
export class Podman {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'nestbox-podman-'));
  readonly runtimeRoot = '/run/nestbox-runtime';

  private base(): string[] {
    return [
      '--root', path.join(this.dir, 'storage'),
      '--runroot', path.join(this.dir, 'run'),
      '--tmpdir', path.join(this.dir, 'tmp'),
      '--storage-driver', 'vfs',
      '--cgroup-manager', 'cgroupfs',
      '--events-backend', 'file',
    ];
  }

  /** podman with nestbox-runtime as the OCI runtime (`runtime` overrides, e.g. runc for a baseline). */
  run(args: string[], opts: RunOptions & { runtime?: string } = {}): Promise<CliResult> {
    const rt = opts.runtime ?? RUNTIME;
    return runCommand('podman', [...this.base(), '--runtime', rt, ...args], opts);
  }

  async load(): Promise<void> {
    const r = await runCommand('podman', [...this.base(), 'load', '-i', BUSYBOX_ARCHIVE]);
    if (r.code !== 0) throw new Error(`podman load: ${r.stderr}`);
  }

  /** IDs of every container this podman knows (to check the runtime left nothing of them). */
  async ids(): Promise<string[]> {
    return (await this.run(['ps', '-aq', '--no-trunc'])).stdout.split('\n').filter(Boolean);
  }

  /** What the runtime still holds of a container: its state directories and processes. */
  async leftovers(id: string): Promise<string[]> {
    const dirs = [path.join(this.runtimeRoot, 'vm', id), path.join(this.runtimeRoot, 'runc', id)].filter((d) => existsSync(d));
    return [...dirs, ...(await processesMatching(id))];
  }

  async dispose(): Promise<void> {
    await this.run(['rm', '-af', '-t', '0']).catch(() => undefined);
    // vfs layers and podman's own files; nothing is mounted with vfs
    await runCommand('podman', [...this.base(), 'system', 'reset', '-f']).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
  }
}
