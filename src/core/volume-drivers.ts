/**
 * Volume drivers: where a volume's bytes live and how a sandbox reaches them. One seam, two
 * drivers, one shared test suite (test/unit/volume-drivers.test.ts):
 * - `local` (default): a sparse ext4 image file — a virtio-blk disk for a VM (the fastest and
 *   most contained way in; fsync in the guest reaches the file), loop-mounted for runc.
 * - `hostdir`: a plain host directory — shared into a VM with virtio-9p, bind-mounted for runc.
 */
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { BackendError, InvalidArgumentError } from './errors.js';
import { parseBytes } from './mount-spec.js';

const run = promisify(execFile);

/** How a sandbox gets at a volume's data. */
export type VolumeSource = { kind: 'block'; file: string; fsType: 'ext4' } | { kind: 'dir'; dir: string };

export interface VolumeDriver {
  readonly name: string;
  /** Options `volume create -o` accepts. */
  readonly options: readonly string[];
  /** Make the data in `dir` (a fresh private directory). */
  create(dir: string, opts: Record<string, string>): Promise<void>;
  source(dir: string): VolumeSource;
  /** Bytes used on the host. */
  usage(dir: string): Promise<number>;
}

export const DEFAULT_BLOCK_SIZE = 8 * 1024 ** 3;

export const localDriver: VolumeDriver = {
  name: 'local',
  options: ['size'],
  async create(dir, opts) {
    const size = opts.size !== undefined ? parseBytes(opts.size, `-o size=${opts.size}`) : DEFAULT_BLOCK_SIZE;
    if (size < 16 * 1024 ** 2) throw new InvalidArgumentError(`volume size ${opts.size} is too small: at least 16m`);
    const file = path.join(dir, 'disk.ext4');
    await fs.writeFile(file, '', { mode: 0o600, flag: 'wx' });
    await fs.truncate(file, size);
    try {
      // root_owner: the volume's root is root-owned 0755 like a fresh docker volume
      await run('mkfs.ext4', ['-q', '-F', '-m', '0', '-E', 'root_owner=0:0,lazy_itable_init=1,lazy_journal_init=1', file]);
      // a fresh volume is empty, as docker's are: no lost+found (e2fsck recreates it when needed)
      await run('debugfs', ['-w', '-R', 'rmdir lost+found', file]);
    } catch (err) {
      throw new BackendError(`mkfs.ext4 \`${file}\`: ${(err as Error).message.trim()} (is e2fsprogs installed?)`, 'MKFS_FAILED');
    }
  },
  source: (dir) => ({ kind: 'block', file: path.join(dir, 'disk.ext4'), fsType: 'ext4' }),
  usage: async (dir) => ((await fs.stat(path.join(dir, 'disk.ext4')).catch(() => undefined))?.blocks ?? 0) * 512,
};

export const hostdirDriver: VolumeDriver = {
  name: 'hostdir',
  options: [],
  async create(dir) {
    await fs.mkdir(path.join(dir, '_data'), { mode: 0o755 });
  },
  source: (dir) => ({ kind: 'dir', dir: path.join(dir, '_data') }),
  usage: async (dir) => duBytes(path.join(dir, '_data')),
};

export const DRIVERS: Record<string, VolumeDriver> = { local: localDriver, hostdir: hostdirDriver };

export function driverNamed(name: string): VolumeDriver {
  const d = DRIVERS[name];
  if (!d) throw new InvalidArgumentError(`unknown volume driver "${name}": use ${Object.keys(DRIVERS).join(' or ')}`);
  return d;
}

async function duBytes(dir: string): Promise<number> {
  try {
    const { stdout } = await run('du', ['-s', '-B1', '-x', dir]);
    return Number(stdout.split(/\s/)[0]) || 0;
  } catch {
    return 0;
  }
}
