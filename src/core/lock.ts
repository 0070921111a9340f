import * as net from 'node:net';
import { createHash } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { ConflictError } from './errors.js';

/**
 * Inter-process mutex on an abstract unix socket name. The kernel frees the name when the holder
 * dies, so a CLI killed with SIGKILL never leaves a stale lock behind (Node has no flock).
 */
export class Lock implements AsyncDisposable {
  private constructor(private readonly server: net.Server) {}

  static async acquire(scope: string, name: string, timeoutMs = 30_000): Promise<Lock> {
    const key = createHash('sha256').update(`${scope}\0${name}`).digest('hex').slice(0, 40);
    const address = `\0nestbox-lock-${key}`;
    const deadline = Date.now() + timeoutMs;
    let delay = 2;
    for (;;) {
      const server = await tryListen(address);
      if (server) return new Lock(server);
      if (Date.now() > deadline) throw new ConflictError(`lock \`${name}\`: still held by another nestbox process after ${timeoutMs} ms`, 'LOCK_TIMEOUT');
      await sleep(delay);
      delay = Math.min(delay * 2, 50);
    }
  }

  /** Try once; `undefined` when another process holds it. */
  static async tryAcquire(scope: string, name: string): Promise<Lock | undefined> {
    const key = createHash('sha256').update(`${scope}\0${name}`).digest('hex').slice(0, 40);
    const server = await tryListen(`\0nestbox-lock-${key}`);
    return server ? new Lock(server) : undefined;
  }

  release(): Promise<void> {
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.release();
  }
}

function tryListen(address: string): Promise<net.Server | undefined> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', (err: NodeJS.ErrnoException) => {
      if (err.code === 'EADDRINUSE') resolve(undefined);
      else reject(err);
    });
    server.listen(address, () => {
      server.unref();
      resolve(server);
    });
  });
}

/** Run `fn` while holding the named lock. */
export async function withLock<T>(scope: string, name: string, fn: () => Promise<T>): Promise<T> {
  const lock = await Lock.acquire(scope, name);
  try {
    return await fn();
  } finally {
    await lock.release();
  }
}
