// Shared by the runtime-*.test.ts files: a private nestbox-runtime root and a private podman
// (its own storage, run root and tmp dir; busybox loaded from the set-up's OCI archive).
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { chmodSync, closeSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, openSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { REPO, processesMatching, runCommand, type CliResult, type RunOptions } from '../helpers/cli.js';
import { dataDir } from '../../src/runtime/data-dir.js';
import { idleTapName } from '../../src/runtime/vm-files.js';

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

  /**
   * nestbox-runtime whose stdio are files, waited for by its exit: a container's waiter keeps
   * the stdio it was given (as conmon expects), so waiting for the pipes to close would wait for
   * the container. stdin is /dev/null.
   */
  async rtDetached(args: string[]): Promise<CliResult> {
    const out = path.join(this.dir, `out-${process.hrtime.bigint()}`);
    const err = `${out}.err`;
    const fds = [openSync(out, 'w'), openSync(err, 'w')];
    try {
      const child = spawn(RUNTIME, ['--root', this.root, '--log', this.log, '--log-format', 'json', ...args], { stdio: ['ignore', fds[0]!, fds[1]!] });
      const [code, signal] = (await once(child, 'exit')) as [number | null, NodeJS.Signals | null];
      return { code, signal, stdout: readFileSync(out, 'utf8'), stderr: readFileSync(err, 'utf8') };
    } finally {
      for (const fd of fds) closeSync(fd);
    }
  }

  /** The JSON lines of the log (each must parse). */
  logLines(): { level: string; msg: string; time: string }[] {
    if (!existsSync(this.log)) return [];
    return readFileSync(this.log, 'utf8').split('\n').filter(Boolean).map((l) => JSON.parse(l) as { level: string; msg: string; time: string });
  }

  /** Its disks and templates (outside the root: src/runtime/data-dir.ts). */
  get data(): string {
    return dataDir(this.root);
  }

  dispose(): void {
    rmSync(this.dir, { recursive: true, force: true });
    rmSync(this.data, { recursive: true, force: true });
  }
}

/**
 * A podman of its own whose containers run with nestbox-runtime. The runtime keeps its default
 * root: podman's clean-up process (which runs `delete`) does not get `--runtime-flag`s.
 */
export class Podman {
  readonly dir = mkdtempSync(path.join(tmpdir(), 'nestbox-podman-'));
  readonly runtimeRoot = '/run/nestbox-runtime';
  /** The default root's disks and templates that existed before (only ours are removed). */
  private readonly dataBefore = new DataSnapshot(dataDir(this.runtimeRoot));

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
    const tap = `/sys/class/net/${idleTapName(path.join(this.runtimeRoot, 'vm', id))}`;
    const left = [path.join(this.runtimeRoot, 'vm', id), path.join(this.runtimeRoot, 'runc', id), tap].filter((d) => existsSync(d));
    return [...left, ...(await processesMatching(id))];
  }

  async dispose(): Promise<void> {
    await this.run(['rm', '-af', '-t', '0']).catch(() => undefined);
    // vfs layers and podman's own files; nothing is mounted with vfs
    await runCommand('podman', [...this.base(), 'system', 'reset', '-f']).catch(() => undefined);
    rmSync(this.dir, { recursive: true, force: true });
    this.dataBefore.removeNew();
  }
}

/** What a data directory holds now, to remove later what a test added (disks, templates). */
export class DataSnapshot {
  private readonly before: Set<string>;

  constructor(private readonly dir: string) {
    this.before = new Set(this.entries());
  }

  private entries(): string[] {
    return ['disks', 'templates'].flatMap((d) => {
      const full = path.join(this.dir, d);
      return existsSync(full) ? readdirSync(full).map((n) => path.join(full, n)) : [];
    });
  }

  removeNew(): void {
    for (const e of this.entries()) if (!this.before.has(e)) rmSync(e, { recursive: true, force: true });
  }
}

/**
 * An OCI bundle under `dir`: a rootfs with the host's static busybox (Debian's busybox-static) and
 * a config.json running `args` (`config` is merged over the generated one).
 */
export function makeBundle(dir: string, args: string[], config: Record<string, unknown> = {}): string {
  const rootfs = path.join(dir, 'rootfs');
  mkdirSync(path.join(rootfs, 'bin'), { recursive: true });
  for (const d of ['proc', 'sys', 'dev', 'tmp', 'etc']) mkdirSync(path.join(rootfs, d), { recursive: true });
  copyFileSync('/bin/busybox', path.join(rootfs, 'bin', 'busybox'));
  chmodSync(path.join(rootfs, 'bin', 'busybox'), 0o755);
  for (const applet of ['sh', 'echo', 'sleep', 'cat', 'uname', 'true', 'hostname', 'id']) symlinkSync('busybox', path.join(rootfs, 'bin', applet));
  const base = {
    ociVersion: '1.0.2',
    process: { terminal: false, user: { uid: 0, gid: 0 }, args, env: ['PATH=/bin', 'TERM=xterm'], cwd: '/' },
    root: { path: 'rootfs', readonly: false },
    hostname: 'bundle',
    mounts: [{ destination: '/proc', type: 'proc', source: 'proc' }],
    linux: { namespaces: [{ type: 'pid' }, { type: 'mount' }] },
  };
  writeFileSync(path.join(dir, 'config.json'), JSON.stringify({ ...base, ...config }, null, 2));
  return dir;
}
