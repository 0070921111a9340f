import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import { BackendError } from '../../core/errors.js';
import { isProcessAlive, waitProcessGone } from '../../core/proc.js';
import { QmpClient } from './qmp.js';
import type { Socket } from 'node:net';
import { RamSplitter, type SplitResult } from './ram-split.js';
import { saveDeviceState } from './snapshot.js';

/**
 * The VM side of checkpoints: save a running sandbox's full state (RAM as a file, CPUs and
 * devices as a stream) through QMP migration, and pack its writable disk into a compact file
 * while the guest is stopped.
 */

/**
 * Stop the guest and save everything: its RAM (`ramBytes`) as the sparse file
 * `ramOut`, the rest of its state (CPUs, devices, firmware blocks) as the stream `stateOut`
 * (src/vm/qemu/ram-split.ts), while `opts.alongside` runs (the guest is stopped: it copies the
 * writable disk). The guest stays stopped: the caller then resumes
 * it (`cont`) or ends it (`quit`). On failure the guest is resumed when `resumeOnFailure` (the
 * source keeps running). `opts.writeback: false`: the RAM file need not reach the disk (see
 * RamSplitter).
 */
export async function saveFullState(dir: string, stateOut: string, ramOut: string, ramBytes: number, resumeOnFailure: boolean, opts: { alongside?: () => Promise<unknown>; writeback?: boolean } = {}): Promise<SplitResult & { ms: number; streamBytes: number }> {
  const { alongside, writeback = true } = opts;
  const qmp = await QmpClient.connect(dir, 'qmp.sock', 5000);
  let result: SplitResult | undefined;
  const consume = (sock: Socket) =>
    new Promise<void>((resolve, reject) => {
      const splitter = new RamSplitter(stateOut, ramOut, ramBytes, writeback);
      let failed = false;
      const fail = (err: unknown) => {
        if (failed) return;
        failed = true;
        splitter.close();
        reject(err);
      };
      sock.on('data', (d: Buffer) => {
        if (failed) return;
        try {
          splitter.push(d);
        } catch (err) {
          fail(err);
        }
      });
      sock.once('error', fail);
      sock.once('end', () => {
        if (!failed) splitter.end().then((r) => resolve(void (result = r)), fail);
      });
    });
  try {
    const saved = await saveDeviceState(qmp, dir, consume, 60_000, { ignoreShared: false, ...(alongside ? { alongside } : {}) });
    return { ...result!, ms: saved.ms, streamBytes: saved.bytes };
  } catch (err) {
    if (resumeOnFailure) await qmp.execute('cont').catch(() => undefined);
    throw err;
  } finally {
    qmp.close();
  }
}

/** QMP `stop` / `cont` / `quit` of the sandbox in `dir`. */
export async function qmpCommand(dir: string, command: 'stop' | 'cont' | 'quit'): Promise<void> {
  const qmp = await QmpClient.connect(dir, 'qmp.sock', 5000);
  try {
    await qmp.execute(command);
  } finally {
    qmp.close();
  }
}

/** QMP run state of the sandbox in `dir` (`running`, `paused`, `postmigrate`, …), or undefined when unreachable. */
export async function qmpStatus(dir: string): Promise<string | undefined> {
  try {
    const qmp = await QmpClient.connect(dir, 'qmp.sock', 2000);
    try {
      return (await qmp.execute<{ status: string }>('query-status')).status;
    } finally {
      qmp.close();
    }
  } catch {
    return undefined;
  }
}

/** End the QEMU of a sandbox whose state was saved (quit, then SIGKILL). */
export async function quitVm(dir: string, pid: number | undefined, pidStart: string | undefined): Promise<void> {
  await qmpCommand(dir, 'quit').catch(() => undefined);
  if (!(await waitProcessGone(pid, pidStart, 3000)) && isProcessAlive(pid, pidStart)) {
    process.kill(pid!, 'SIGKILL');
    await waitProcessGone(pid, pidStart, 5000);
  }
}

function qemuImg(args: string[]): Promise<void> {
  return new Promise((resolve, reject) =>
    execFile('qemu-img', args, (err, _out, stderr) =>
      err ? reject(new BackendError(`qemu-img ${args[0]}: ${String(stderr).trim() || err.message}`, 'DISK_COPY_FAILED')) : resolve(),
    ),
  );
}

/**
 * The 8 GiB sparse writable disk as a qcow2 file holding only its data (a few MiB for a fresh
 * one): fast to hash, copy and tar. `-U`: QEMU may still have the raw file open (stopped).
 */
export async function packDisk(raw: string, packed: string): Promise<void> {
  await qemuImg(['convert', '-U', '-f', 'raw', '-O', 'qcow2', raw, packed]);
}

/**
 * Back to a sparse raw disk (what a container's QEMU uses). `into`: `raw` exists already, empty
 * (sparse) and of the packed disk's size (emptyDiskFor): it is filled in place.
 */
export async function unpackDisk(packed: string, raw: string, opts: { into?: boolean } = {}): Promise<void> {
  await qemuImg(['convert', ...(opts.into ? ['-n', '--target-is-zero'] : []), '-f', 'qcow2', '-O', 'raw', '-S', '4k', packed, raw]);
  await fs.chmod(raw, 0o600);
}

/**
 * An empty sparse raw disk at `raw` of the virtual size in the header of the packed disk `packed`
 * (read before the checkpoint is checked: only a size, bounded as checkPackedDisk bounds it).
 */
export async function emptyDiskFor(packed: string, raw: string): Promise<void> {
  const fh = await fs.open(packed, 'r');
  const head = Buffer.alloc(32);
  try {
    await fh.read(head, 0, 32, 0);
  } finally {
    await fh.close();
  }
  const size = head.readBigUInt64BE(24);
  if (head.readUInt32BE(0) !== 0x514649fb || size === 0n || size > BigInt(MAX_DISK_BYTES)) throw new BackendError('the writable disk is not a qcow2 file of a plausible size', 'DISK_COPY_FAILED');
  await fs.writeFile(raw, '', { mode: 0o600, flag: 'wx' });
  await fs.truncate(raw, Number(size));
}

const MAX_DISK_BYTES = 64 * 1024 ** 3;

/** Checks a packed disk from a checkpoint file (hostile): a plain qcow2 with no backing file. */
export async function checkPackedDisk(packed: string): Promise<string | undefined> {
  const info = await new Promise<string>((resolve, reject) =>
    execFile('qemu-img', ['info', '--output=json', '-f', 'qcow2', packed], (err, out, stderr) => (err ? reject(new Error(String(stderr).trim() || err.message)) : resolve(out))),
  ).catch((err: Error) => `!${err.message}`);
  if (info.startsWith('!')) return `the writable disk is not a valid qcow2 file (${info.slice(1)})`;
  const j = JSON.parse(info) as { 'backing-filename'?: string; 'virtual-size'?: number; format?: string };
  if (j.format !== 'qcow2') return 'the writable disk is not qcow2';
  if (j['backing-filename']) return 'the writable disk names a backing file';
  if (!j['virtual-size'] || j['virtual-size'] > MAX_DISK_BYTES) return 'the writable disk has an implausible size';
  return undefined;
}
