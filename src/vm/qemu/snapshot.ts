import * as net from 'node:net';
import { closeSync, createWriteStream, openSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackendError } from '../../core/errors.js';
import type { QmpClient } from './qmp.js';

/**
 * Saving and loading a VM's device state through QMP migration (QEMU 7.2 has no `file:`
 * migration URI). Guest RAM lives in a file (`memory-backend-file`) and is left out of the
 * stream by the `x-ignore-shared` capability: the stream holds CPU and device state only
 * (tens of KiB). Checkpoints save a full stream instead (`ignoreShared: false`): RAM and all.
 */

const ignoreShared = (state: boolean) => ({ capabilities: [{ capability: 'x-ignore-shared', state }] });
/** No bandwidth cap while the guest is stopped (QEMU's default, 128 MiB/s, doubles a full save's time). */
const UNLIMITED = { 'max-bandwidth': 64 * 1024 ** 3, 'downtime-limit': 60_000 };

export interface StateOptions {
  /**
   * Work to do while the VM is stopped, at the same time as the stream is saved (a checkpoint
   * copies the writable disk: stopping drained and flushed it). Settled before this returns.
   */
  alongside?: () => Promise<unknown>;
  /**
   * Leave RAM in shared memory-backend-files out of the stream (x-ignore-shared; default true:
   * templates). false: a full stream with RAM (checkpoints). Saver and loader must agree.
   */
  ignoreShared?: boolean;
}
/** Name of the socket the host listens on while QEMU saves (inside QEMU's chroot: its cwd). */
const SAVE_SOCKET = 'save.sock';

interface MigrateInfo {
  status?: string;
  'error-desc'?: string;
}

/** Where a saved stream goes: a new file, or a consumer of the socket QEMU writes it to. */
export type StateSink = string | ((sock: net.Socket) => Promise<void>);

/**
 * Stop the VM and write its device state to `out` (a file, or a consumer of the stream). QEMU can
 * only migrate to a named fd (which needs SCM_RIGHTS, which Node lacks) or connect to a socket:
 * the host listens on a socket in `dir`, QEMU's chroot, which QEMU (dropped to `nobody`) may
 * enter only while this runs. The VM stays stopped afterwards.
 */
export async function saveDeviceState(qmp: QmpClient, dir: string, out: StateSink, timeoutMs = 30_000, opts: StateOptions = {}): Promise<{ bytes: number; ms: number }> {
  const t0 = Date.now();
  await qmp.execute('migrate-set-capabilities', ignoreShared(opts.ignoreShared ?? true));
  await qmp.execute('migrate-set-parameters', UNLIMITED);
  await qmp.execute('stop');
  const side = opts.alongside?.();
  side?.catch(() => undefined);
  try {
    const saved = await saveStopped(qmp, dir, out, timeoutMs, t0);
    await side;
    return saved;
  } finally {
    await side?.catch(() => undefined);
  }
}

async function saveStopped(qmp: QmpClient, dir: string, out: StateSink, timeoutMs: number, t0: number): Promise<{ bytes: number; ms: number }> {
  const sockPath = path.join(dir, SAVE_SOCKET);
  await fs.rm(sockPath, { force: true });
  const file = typeof out === 'string' ? createWriteStream(out, { flags: 'wx', mode: 0o600 }) : undefined;
  const server = net.createServer();
  let accepted: net.Socket | undefined;
  let bytes = 0;
  const received = new Promise<void>((resolve, reject) => {
    file?.once('error', reject);
    server.once('error', reject);
    server.on('connection', (sock) => {
      if (accepted) return void sock.destroy(); // one stream only
      accepted = sock;
      server.close();
      sock.on('data', (d: Buffer) => (bytes += d.length));
      if (file) {
        sock.once('error', reject);
        sock.pipe(file);
        file.once('finish', resolve);
      } else {
        (out as (s: net.Socket) => Promise<void>)(sock).then(resolve, (err: unknown) => {
          sock.destroy();
          reject(err);
        });
      }
    });
  });
  received.catch(() => undefined);
  const mode = (await fs.stat(dir)).mode & 0o777;
  try {
    await listenUnix(server, dir, SAVE_SOCKET);
    await fs.chmod(sockPath, 0o666);
    await fs.chmod(dir, mode | 0o011); // search only: QEMU must not list or read anything else
    await qmp.execute('migrate', { uri: `unix:${SAVE_SOCKET}` });
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      const info = await qmp.execute<MigrateInfo>('query-migrate');
      if (info.status === 'completed') break;
      if (info.status === 'failed' || info.status === 'cancelled') {
        // a consumer that refused the stream says why
        await Promise.race([received, sleep(100)]).catch((err: Error) => {
          throw new BackendError(`save VM state: ${err.message}`, 'SNAPSHOT_FAILED');
        });
        throw new BackendError(`save VM state: migration ${info.status}${info['error-desc'] ? `: ${info['error-desc']}` : ''}`, 'SNAPSHOT_FAILED');
      }
      if (Date.now() > deadline) throw new BackendError(`save VM state: not done within ${timeoutMs} ms`, 'SNAPSHOT_FAILED');
      await sleep(5);
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new BackendError('save VM state: the stream did not end', 'SNAPSHOT_FAILED')), timeoutMs)));
    await Promise.race([received, late]).finally(() => clearTimeout(timer));
  } finally {
    server.close();
    accepted?.destroy();
    file?.destroy();
    await fs.chmod(dir, mode);
    await fs.rm(sockPath, { force: true });
  }
  if (!file) return { bytes, ms: Date.now() - t0 };
  const fh = await fs.open(out as string, 'r');
  try {
    await fh.sync();
    return { bytes: (await fh.stat()).size, ms: Date.now() - t0 };
  } finally {
    await fh.close();
  }
}

/**
 * Load device state from `fd` (an fd QEMU inherited, started with `-incoming defer`) and let
 * the guest run. A guest that was stopped when saved stays paused after loading until `cont`.
 */
export async function loadDeviceState(qmp: QmpClient, fd: number, timeoutMs = 10_000, opts: StateOptions & { resume?: boolean } = {}): Promise<void> {
  await qmp.execute('migrate-set-capabilities', ignoreShared(opts.ignoreShared ?? true));
  // no self-announce after the load (QEMU's RARPs, and the guest's gratuitous ARP for the saved
  // MAC and address): a resumed guest never keeps the network identity it was saved with (a
  // template's is a placeholder; a checkpoint, fork or migration gets its own at REIDENTIFY), and
  // announcing the old one would point the bridge at the wrong port
  await qmp.execute('migrate-set-parameters', { 'announce-rounds': 0 });
  await qmp.execute('migrate-incoming', { uri: `fd:${fd}` });
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const { status } = await qmp.execute<{ status: string }>('query-status');
    if (status === 'paused' || status === 'running') break;
    if (status !== 'inmigrate') throw new BackendError(`restore VM state: QEMU is ${status}`, 'RESTORE_FAILED');
    const info = await qmp.execute<MigrateInfo>('query-migrate');
    if (info.status === 'failed') throw new BackendError(`restore VM state: ${info['error-desc'] ?? 'migration failed'}`, 'RESTORE_FAILED');
    if (Date.now() > deadline) throw new BackendError(`restore VM state: not loaded within ${timeoutMs} ms`, 'RESTORE_FAILED');
    await sleep(2);
  }
  if (opts.resume ?? true) await qmp.execute('cont');
}

/** Listen on unix socket `name` in `dir`; a path too long for sun_path (deep state roots) is bound through /proc/self/fd. */
async function listenUnix(server: net.Server, dir: string, name: string): Promise<void> {
  const full = path.join(dir, name);
  if (Buffer.byteLength(full) <= 107) return new Promise<void>((resolve, reject) => server.once('error', reject).listen(full, resolve));
  const fd = openSync(dir, 'r');
  try {
    await new Promise<void>((resolve, reject) => server.once('error', reject).listen(`/proc/self/fd/${fd}/${name}`, resolve));
  } finally {
    closeSync(fd);
  }
}
