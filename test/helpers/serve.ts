import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { NESTBOX, runCommand, type CliResult, type RunOptions } from './cli.js';

/** The stock docker CLI (client only) the API tests drive. */
export const DOCKER = process.env.DOCKER_CLI ?? '/usr/local/bin/docker';

/** `nestbox --root ROOT serve -H unix://SOCK` as a child; resolves once it listens. */
export async function startServe(root: string, sock: string): Promise<{ child: ChildProcess; log: () => string }> {
  let log = '';
  const child = spawn(NESTBOX, ['--root', root, 'serve', '-H', `unix://${sock}`], { stdio: ['ignore', 'pipe', 'pipe'] });
  child.stdout!.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (log += d.toString()));
  const deadline = Date.now() + 30_000;
  while (!log.includes('API listening')) {
    if (child.exitCode !== null || Date.now() > deadline) {
      child.kill('SIGKILL');
      throw new Error(`nestbox serve did not start: ${log}`);
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  return { child, log: () => log };
}

/** SIGTERM to the server we started, and wait for it to exit (SIGKILL after 10 s). */
export function stopServe(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => {
    if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
    const t = setTimeout(() => child.kill('SIGKILL'), 10_000);
    child.once('exit', (code) => {
      clearTimeout(t);
      resolve(code);
    });
    child.kill('SIGTERM');
  });
}

/**
 * The stock docker CLI against the server on `sock` (its config in `configDir`): `docker` runs it,
 * `ok` also fails the test unless it exits 0. `serverLog` is shown with a failure.
 */
export function dockerClient(sock: string, configDir: string, serverLog: () => string) {
  const docker = (args: string[], opts: RunOptions = {}): Promise<CliResult> =>
    runCommand(DOCKER, args, { ...opts, timeoutMs: opts.timeoutMs ?? 120_000, env: { DOCKER_HOST: `unix://${sock}`, DOCKER_CONFIG: configDir }, context: serverLog });
  const ok = async (args: string[]): Promise<string> => {
    const r = await docker(args);
    assert.equal(r.code, 0, `docker ${args.join(' ')}: ${r.stderr}`);
    return r.stdout;
  };
  return { docker, ok };
}
