import type { OutputChunk, SandboxApi } from './api.js';

export interface Output {
  stdout: string;
  stderr: string;
}

export async function collect(chunks: AsyncIterable<OutputChunk>): Promise<Output> {
  const out: Buffer[] = [];
  const err: Buffer[] = [];
  for await (const c of chunks) (c.stream === 'stdout' ? out : err).push(c.data);
  return { stdout: Buffer.concat(out).toString('utf8'), stderr: Buffer.concat(err).toString('utf8') };
}

export async function removeQuietly(api: SandboxApi, id: string): Promise<void> {
  try {
    await api.remove(id, true);
  } catch (err) {
    if ((err as { code?: string }).code !== 'CONTAINER_NOT_FOUND') throw err;
  }
}
