import { NotFoundError } from '../core/errors.js';
import type { SandboxApi } from './api.js';
import { SandboxFileError } from './file-error.js';

/**
 * Files in a running sandbox, through exec: `cat` with the data on stdin or stdout. Binary-safe
 * (the channel carries bytes); needs `cat` (read) and `sh` (write) in the image, as busybox has.
 */
export async function readSandboxFile(api: SandboxApi, id: string, file: string): Promise<Buffer> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  const code = await api.exec(id, ['cat', '--', file], { onStdout: (d) => out.push(d), onStderr: (d) => err.push(d) });
  if (code !== 0) throw fileError('read', file, id, code, Buffer.concat(err).toString('utf8'));
  return Buffer.concat(out);
}

export async function writeSandboxFile(api: SandboxApi, id: string, file: string, data: Buffer | Uint8Array | string): Promise<void> {
  const err: Buffer[] = [];
  const code = await api.exec(id, ['sh', '-c', 'cat > "$1"', 'sh', file], { stdin: data, onStderr: (d) => err.push(d) });
  if (code !== 0) throw fileError('write', file, id, code, Buffer.concat(err).toString('utf8'));
}

function fileError(op: string, file: string, id: string, code: number, stderr: string): Error {
  const why = stderr.trim().split('\n').at(-1) || `exit code ${code}`;
  if (/no such file|nonexistent directory/i.test(why)) return new NotFoundError('file', `${file} in sandbox ${id.slice(0, 12)}`, why);
  return new SandboxFileError(`${op} \`${file}\` in sandbox ${id.slice(0, 12)}: ${why}`, file);
}
