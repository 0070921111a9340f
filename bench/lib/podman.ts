import { existsSync, mkdirSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { sh } from './timing.js';

/**
 * What a rootful podman writes outside --root/--runroot/--tmpdir even so (seen with podman 4.3):
 * netavark's run dir, runc's default state dir, the cgroupfs parent, the image-copy blob-info
 * cache. We note what exists before and remove only what we created (directories only when
 * empty), so another user's podman is never disturbed.
 */
const GLOBAL_DIRS = ['/run/containers/networks', '/run/containers', '/run/runc', '/var/lib/containers/cache', '/var/lib/containers'];
const GLOBAL_FILES = ['/etc/cni/net.d/cni.lock', '/var/lib/containers/cache/blob-info-cache-v1.boltdb'];
const CGROUP_ROOT = '/sys/fs/cgroup';

/** The same busybox image as nestbox's default, as podman names it. */
export const PODMAN_IMAGE = 'docker.io/library/busybox:latest';

export interface PrivatePodman {
  /** The global flags that make this podman private (for the report). */
  flags: string[];
  args(extra: string[]): string[];
  load(ociArchive: string): Promise<void>;
  teardown(): Promise<string[]>;
}

export async function privatePodman(dir: string): Promise<PrivatePodman> {
  for (const d of ['root', 'run', 'tmp', 'net']) mkdirSync(path.join(dir, d), { recursive: true, mode: 0o700 });
  const flags = [
    '--root', path.join(dir, 'root'),
    '--runroot', path.join(dir, 'run'),
    '--tmpdir', path.join(dir, 'tmp'),
    '--network-config-dir', path.join(dir, 'net'),
    '--storage-driver', 'overlay',
    '--cgroup-manager', 'cgroupfs',
    '--events-backend', 'file',
    '--runtime', 'runc',
  ];
  const before = new Set([...GLOBAL_DIRS, ...GLOBAL_FILES, ...(await cgroupParents())].filter((p) => existsSync(p)));
  const args = (extra: string[]) => [...flags, ...extra];
  return {
    flags,
    args,
    async load(ociArchive: string) {
      // in a private mount namespace with a tmpfs over the blob-info cache, so the load does not
      // write the host's /var/lib/containers/cache
      const podman = ['podman', ...args(['load', '-q', '-i', ociArchive])].map(shellQuote).join(' ');
      await sh('unshare', ['--mount', '--propagation', 'private', '--', 'sh', '-c',
        `if [ -d /var/lib/containers/cache ]; then mount -t tmpfs nbb-cache /var/lib/containers/cache; fi; exec ${podman}`]);
    },
    async teardown() {
      const notes: string[] = [];
      const removed: string[] = [];
      await sh('podman', args(['rm', '-a', '-f'])).catch((e: Error) => notes.push(`podman rm -af: ${e.message}`));
      await sh('podman', args(['rmi', '-a', '-f'])).catch((e: Error) => notes.push(`podman rmi -af: ${e.message}`));
      for (const f of GLOBAL_FILES) {
        if (!before.has(f) && existsSync(f)) {
          await fs.rm(f, { force: true });
          removed.push(f);
        }
      }
      for (const cg of await cgroupParents()) {
        if (!before.has(cg)) {
          const left = await rmdirTree(cg);
          if (left) notes.push(`could not remove cgroup ${cg}: ${left}`);
          else removed.push(cg);
        }
      }
      for (const d of GLOBAL_DIRS) {
        if (!before.has(d) && existsSync(d)) {
          try {
            await fs.rmdir(d);
            removed.push(d);
          } catch (err) {
            notes.push(`left ${d} in place: ${(err as Error).message}`);
          }
        }
      }
      if (removed.length) notes.push(`removed what podman created outside its private dirs: ${compactCgroups(removed).join(', ')}`);
      return notes;
    },
  };
}

/** libpod_parent in every cgroup hierarchy (cgroup v1, v2 or hybrid). */
async function cgroupParents(): Promise<string[]> {
  const out: string[] = [];
  if (existsSync(path.join(CGROUP_ROOT, 'cgroup.controllers'))) out.push(path.join(CGROUP_ROOT, 'libpod_parent'));
  for (const h of await fs.readdir(CGROUP_ROOT).catch(() => [])) {
    const p = path.join(CGROUP_ROOT, h);
    if ((await fs.stat(p).catch(() => undefined))?.isDirectory()) out.push(path.join(p, 'libpod_parent'));
  }
  return out;
}

/** rmdir a cgroup and its children, deepest first; only empty cgroups go. Returns an error or ''. */
export async function rmdirTree(dir: string): Promise<string> {
  if (!existsSync(dir)) return '';
  let err = '';
  for (const e of await fs.readdir(dir, { withFileTypes: true })) {
    if (e.isDirectory()) err ||= await rmdirTree(path.join(dir, e.name));
  }
  try {
    await fs.rmdir(dir);
  } catch (e) {
    err ||= (e as Error).message;
  }
  return err;
}

/** /sys/fs/cgroup/{cpu,memory,…}/libpod_parent → one entry. */
function compactCgroups(paths: string[]): string[] {
  const cg = paths.filter((p) => p.startsWith(CGROUP_ROOT + '/') && p.endsWith('/libpod_parent'));
  const rest = paths.filter((p) => !cg.includes(p));
  return cg.length ? [`${CGROUP_ROOT}/{${cg.map((p) => path.basename(path.dirname(p))).join(',')}}/libpod_parent`, ...rest] : rest;
}

function shellQuote(s: string): string {
  return /^[\w@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}
