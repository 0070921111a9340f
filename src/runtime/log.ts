import { appendFileSync, writeSync } from 'node:fs';

export type LogLevel = 'debug' | 'info' | 'warning' | 'error';

/**
 * The runtime's log (`--log FILE`, `--log-format text|json`). Callers (conmon, containerd's shim,
 * CRI-O) read it to tell users why an operation failed, so errors are one JSON object per line
 * with `level`, `msg` and `time`, as runc writes them. Without --log, only errors are shown (on
 * stderr, by main).
 */
export class RuntimeLog {
  constructor(
    private readonly file: string | undefined,
    private readonly format: 'text' | 'json' = 'text',
    private readonly debugOn = false,
  ) {}

  debug(msg: string): void {
    if (this.debugOn) this.write('debug', msg);
  }
  info(msg: string): void {
    this.write('info', msg);
  }
  warn(msg: string): void {
    this.write('warning', msg);
  }
  error(msg: string): void {
    this.write('error', msg);
  }

  private write(level: LogLevel, msg: string): void {
    const time = new Date().toISOString();
    const line = this.format === 'json' ? JSON.stringify({ level, msg, time }) : `time="${time}" level=${level} msg=${JSON.stringify(msg)}`;
    // without a log file there is nowhere to put it: our stderr is often the container's
    // (conmon and containerd's shim hand the runtime the container's stdio), and errors are
    // printed there by main() anyway
    if (!this.file) return;
    try {
      appendFileSync(this.file, `${line}\n`, { mode: 0o600 });
    } catch (err) {
      writeStderr(`nestbox-runtime: cannot write log \`${this.file}\`: ${(err as Error).message}\n${line}\n`);
    }
  }
}

/**
 * Synchronous, so a message is out before the process exits; straight to the fd rather than
 * through process.stderr, which would make fd 2 non-blocking for the container that inherits it.
 */
export function writeStderr(text: string): void {
  writeFd(2, text);
}

export function writeStdout(text: string): void {
  writeFd(1, text);
}

function writeFd(fd: number, text: string): void {
  const data = Buffer.from(text);
  let off = 0;
  for (let tries = 0; off < data.length && tries < 1000; tries++) {
    try {
      off += writeSync(fd, data, off);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EAGAIN') return;
    }
  }
}
