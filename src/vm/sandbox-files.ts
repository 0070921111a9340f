import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { CTL_PORTS } from '../guest/protocol.js';

/** Files a sandbox directory holds, for both monitors (QEMU and the runc shim), the readers and `rm`. */
export const sandboxFiles = (dir: string) => ({
  qmp: path.join(dir, 'qmp.sock'),
  log: path.join(dir, 'log'),
  events: path.join(dir, 'events'),
  console: path.join(dir, 'console.log'),
  stderr: path.join(dir, 'qemu.err'),
  rwDisk: path.join(dir, 'rw.ext4'),
  ctl: (n: number) => path.join(dir, `ctl-${n}.sock`),
});

/** Remove the channel sockets a previous monitor of this sandbox left (the caller made sure it is gone). */
export async function removeStaleSockets(dir: string): Promise<void> {
  const f = sandboxFiles(dir);
  await fs.rm(f.qmp, { force: true });
  for (let n = 0; n < CTL_PORTS; n++) await fs.rm(f.ctl(n), { force: true });
}
