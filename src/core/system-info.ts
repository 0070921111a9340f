import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Engine } from './engine.js';
import { guestDir } from './paths.js';
import { VERSION } from './version.js';
import { detectAccel, type AccelReport } from '../vm/qemu/accel.js';
import { QEMU_BINARY } from '../vm/qemu/command.js';
import { RUNC_BINARY } from '../vm/process/process-backend.js';
import { PROTOCOL_VERSION } from '../guest/protocol.js';

const run = promisify(execFile);

export interface SystemInfo {
  version: string;
  root: string;
  containers: { total: number; running: number; paused: number; stopped: number };
  images: number;
  accelerator: AccelReport;
  vmm: { binary: string; version?: string };
  runc: { binary: string; version?: string };
  guest: { dir: string; kernelRelease?: string; agentVersion?: string; protocolVersion: number };
  hostKernel: string;
  cpus: number;
  memoryBytes: number;
}

export async function systemInfo(engine: Engine): Promise<SystemInfo> {
  const list = await engine.list({ all: true });
  const count = (s: string) => list.filter((c) => c.state.status === s).length;
  const guest = await fs.readFile(path.join(guestDir(), 'guest.json'), 'utf8').then((t) => JSON.parse(t) as Record<string, string>, () => ({}) as Record<string, string>);
  return {
    version: VERSION,
    root: engine.root,
    containers: { total: list.length, running: count('running'), paused: count('paused'), stopped: list.length - count('running') - count('paused') },
    images: (await engine.images.list()).length,
    accelerator: detectAccel(),
    vmm: { binary: QEMU_BINARY, ...(await firstLine(QEMU_BINARY, ['--version'])) },
    runc: { binary: RUNC_BINARY, ...(await firstLine(RUNC_BINARY, ['--version'])) },
    guest: {
      dir: guestDir(),
      ...(guest.kernelRelease ? { kernelRelease: guest.kernelRelease } : {}),
      ...(guest.agentVersion ? { agentVersion: guest.agentVersion } : {}),
      protocolVersion: PROTOCOL_VERSION,
    },
    hostKernel: os.release(),
    cpus: os.cpus().length,
    memoryBytes: os.totalmem(),
  };
}

async function firstLine(cmd: string, args: string[]): Promise<{ version?: string }> {
  try {
    const { stdout } = await run(cmd, args);
    return { version: stdout.split('\n')[0]!.trim() };
  } catch {
    return {};
  }
}
