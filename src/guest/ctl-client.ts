import * as net from 'node:net';
import { EventEmitter } from 'node:events';
import { setTimeout as sleep } from 'node:timers/promises';
import { BackendError, ConflictError, GuestProtocolError } from '../core/errors.js';
import { Lock } from '../core/lock.js';
import { connectUnix } from '../core/unix-socket.js';
import { FrameDecoder } from './frame.js';
import { decodeGuestFrame, encode, type GuestEvent, type PrepareSpec } from './messages.js';
import { CTL_PORTS, PROTOCOL_VERSION } from './protocol.js';

/**
 * One host client of one ctl port (QEMU serves each port to a single client at a time, so a
 * process-lifetime lock picks a free port). Emits 'event' (GuestEvent), 'error', 'close'.
 */
export class CtlConnection extends EventEmitter implements AsyncDisposable {
  private decoder = new FrameDecoder();
  private closed = false;

  private constructor(
    private readonly socket: net.Socket,
    private readonly lock: Lock,
    readonly port: number,
  ) {
    super();
    socket.on('data', (chunk: Buffer) => this.onData(chunk));
    socket.on('error', (err) => this.fail(new BackendError(`guest channel ctl-${port}: ${err.message}`)));
    socket.on('close', () => this.finish());
  }

  /** Connect to a free ctl port of the sandbox in `dir`, waiting for QEMU to create the sockets. */
  static async open(dir: string, timeoutMs = 30_000, signal?: AbortSignal): Promise<CtlConnection> {
    const deadline = Date.now() + timeoutMs;
    // a process sandbox's shim listens a few ms after it was spawned, a VM's QEMU later: look
    // again soon at first, then every 20 ms
    for (let attempt = 0; ; attempt++) {
      if (signal?.aborted) throw new BackendError(`guest channel in \`${dir}\`: gave up (${String(signal.reason ?? 'aborted')})`, 'ABORTED');
      for (let port = 0; port < CTL_PORTS; port++) {
        const lock = await Lock.tryAcquire(dir, `ctl-${port}`);
        if (!lock) continue;
        const socket = await tryConnect(dir, `ctl-${port}.sock`);
        if (socket) return new CtlConnection(socket, lock, port);
        await lock.release();
      }
      if (Date.now() > deadline) throw new ConflictError(`guest channel in \`${dir}\`: no ctl port could be opened within ${timeoutMs} ms`, 'CHANNEL_BUSY');
      await sleep(Math.min(20, 2 << attempt));
    }
  }

  send(frame: Buffer): void {
    if (!this.closed) this.socket.write(frame);
  }

  /** HELLO round trip: checks the agent speaks our protocol version. */
  async hello(timeoutMs = 60_000): Promise<Extract<GuestEvent, { kind: 'hello' }>> {
    const reply = this.next((e) => e.kind === 'hello', timeoutMs);
    this.send(encode.hello());
    const hello = (await reply) as Extract<GuestEvent, { kind: 'hello' }>;
    if (hello.version !== PROTOCOL_VERSION) throw new GuestProtocolError(`guest agent speaks protocol ${hello.version}, host speaks ${PROTOCOL_VERSION}`);
    return hello;
  }

  /**
   * PREPARE round trip (a warm-pool sandbox): resolves with the warm-up's exit code (undefined
   * without one) once the guest is set up; an ERROR (or an agent too old to know PREPARE) rejects.
   */
  async prepare(spec: PrepareSpec, timeoutMs: number): Promise<number | undefined> {
    const reply = this.next((e) => (e.kind === 'prepared' || e.kind === 'error') && e.session === 0, timeoutMs);
    this.send(encode.prepare(spec));
    const e = await reply;
    if (e.kind === 'error') throw new BackendError(`guest PREPARE: ${e.message}`, 'PREPARE_FAILED');
    return e.kind === 'prepared' ? e.code : undefined;
  }

  /** The next event matching `pred`. */
  next(pred: (e: GuestEvent) => boolean, timeoutMs: number): Promise<GuestEvent> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => done(new BackendError(`guest channel: no answer within ${timeoutMs} ms`, 'GUEST_TIMEOUT')), timeoutMs);
      const onEvent = (e: GuestEvent) => pred(e) && done(undefined, e);
      const onClose = () => done(new BackendError('guest channel closed before the guest answered', 'GUEST_GONE'));
      const onError = (err: Error) => done(err);
      const done = (err?: Error, e?: GuestEvent) => {
        clearTimeout(timer);
        this.off('event', onEvent).off('close', onClose).off('error', onError);
        if (err) reject(err);
        else resolve(e!);
      };
      this.on('event', onEvent).on('close', onClose).on('error', onError);
    });
  }

  private onData(chunk: Buffer): void {
    try {
      for (const frame of this.decoder.push(chunk)) this.emit('event', decodeGuestFrame(frame));
      if (this.decoder.error) throw this.decoder.error;
    } catch (err) {
      this.fail(err as Error);
    }
  }

  private fail(err: Error): void {
    if (this.listenerCount('error') > 0) this.emit('error', err);
    this.socket.destroy();
  }

  private finish(): void {
    if (this.closed) return;
    this.closed = true;
    void this.lock.release();
    this.emit('close');
  }

  get isClosed(): boolean {
    return this.closed;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    await new Promise<void>((resolve) => {
      this.once('close', resolve);
      this.socket.end();
      setTimeout(() => this.socket.destroy(), 1000).unref();
    });
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.close();
  }
}

function tryConnect(dir: string, name: string): Promise<net.Socket | undefined> {
  return new Promise((resolve) => {
    const socket = connectUnix(dir, name);
    socket.once('connect', () => {
      socket.removeAllListeners('error');
      resolve(socket);
    });
    socket.once('error', () => resolve(undefined));
  });
}
