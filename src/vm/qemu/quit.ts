import { killQuietly, waitProcessGone } from '../../core/proc.js';
import { QmpClient } from './qmp.js';

/**
 * End the QEMU `pid` of sandbox directory `dir`: QMP `quit` (QEMU flushes its disks), then
 * SIGKILL when it is not gone within 3 s (or has no QMP left). Resolves when it is gone.
 */
export async function quitQemu(dir: string, pid: number, pidStart: string | undefined, qmpTimeoutMs = 2000): Promise<void> {
  try {
    const qmp = await QmpClient.connect(dir, 'qmp.sock', qmpTimeoutMs);
    await qmp.execute('quit').catch(() => undefined);
    qmp.close();
  } catch {
    // QMP gone: SIGKILL below
  }
  if (!(await waitProcessGone(pid, pidStart, 3000))) {
    killQuietly(pid, 'SIGKILL');
    await waitProcessGone(pid, pidStart, 5000);
  }
}
