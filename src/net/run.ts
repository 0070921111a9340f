import { execFile } from 'node:child_process';
import { BackendError } from '../core/errors.js';

/**
 * Run a host networking tool (`ip`, `nft`, `sysctl`) and return its stdout; a failure names the
 * command and carries the tool's own complaint.
 */
export function runTool(command: string, args: string[], input?: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = execFile(command, args, { maxBuffer: 16 << 20 }, (err, stdout, stderr) => {
      if (!err) return resolve(String(stdout));
      const why = String(stderr).trim() || err.message;
      const code = (err as NodeJS.ErrnoException).code === 'ENOENT' ? 'TOOL_MISSING' : 'NETWORK_SETUP';
      reject(new BackendError(`\`${command} ${args.join(' ').slice(0, 200)}\`: ${why.slice(0, 800)}`, code));
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

/** As runTool, but a failure is ignored (removing what may already be gone). */
export async function tryTool(command: string, args: string[], input?: string): Promise<boolean> {
  return runTool(command, args, input).then(() => true, () => false);
}
