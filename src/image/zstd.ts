/**
 * zstd decompression as a Transform stream, by Debian's `zstd` tool (Node 20's zlib has no
 * zstd). Compressed bytes go to the child's stdin, the tar comes back on its stdout. The stream
 * ends only after the child exited 0, so corrupt or truncated input is an error naming the
 * tool's complaint, never a silently short tar. Destroying the stream kills the child.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { Transform, type TransformCallback } from 'node:stream';

export const ZSTD_BINARY = process.env.NESTBOX_ZSTD ?? 'zstd';

class ZstdDecompress extends Transform {
  private readonly child: ChildProcessWithoutNullStreams;
  private stderr = '';
  private readonly exited: Promise<Error | undefined>;

  constructor() {
    super();
    this.child = spawn(ZSTD_BINARY, ['-d', '-c', '-q', '--no-progress'], { stdio: ['pipe', 'pipe', 'pipe'] });
    const child = this.child;
    child.stderr.setEncoding('utf8');
    child.stderr.on('data', (chunk: string) => {
      if (this.stderr.length < 4096) this.stderr += chunk;
    });
    child.stdout.on('data', (chunk: Buffer) => {
      if (!this.push(chunk)) child.stdout.pause();
    });
    child.stdin.on('error', () => undefined); // reported through the exit status
    const stdoutClosed = new Promise<void>((resolve) => child.stdout.once('close', resolve));
    this.exited = new Promise((resolve) => {
      child.once('error', (err: NodeJS.ErrnoException) =>
        resolve(err.code === 'ENOENT' ? new Error(`zstd-compressed layer needs the \`${ZSTD_BINARY}\` tool (apt-get install zstd)`) : err));
      child.once('exit', (code, signal) => {
        void stdoutClosed.then(() =>
          resolve(code === 0 ? undefined : new Error(`zstd: ${this.stderr.trim().split('\n').pop() || (signal ? `killed by ${signal}` : `exit status ${code}`)}`)));
      });
    });
    void this.exited.then((err) => {
      if (err && !this.destroyed) this.destroy(err);
    });
  }

  override _read(size: number): void {
    this.child.stdout.resume();
    super._read(size);
  }

  override _transform(chunk: Buffer, _enc: BufferEncoding, done: TransformCallback): void {
    if (this.child.stdin.write(chunk)) done();
    else this.child.stdin.once('drain', () => done());
  }

  override _flush(done: TransformCallback): void {
    this.child.stdin.end();
    void this.exited.then((err) => done(err ?? null));
  }

  override _destroy(err: Error | null, done: (error: Error | null) => void): void {
    if (this.child.exitCode === null && this.child.signalCode === null) this.child.kill('SIGKILL');
    done(err);
  }
}

export function createZstdDecompress(): Transform {
  return new ZstdDecompress();
}
