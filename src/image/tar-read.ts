/** Read a tar stream entry by entry, with errors from any stage of the chain surfaced once. */
import type { Readable } from 'node:stream';
import { pipeline } from 'node:stream';
import * as tar from 'tar-stream';

export type TarHeader = tar.Header;
export type TarEntry = AsyncIterable<Buffer>;

/**
 * Pipe `chain` (source, then transforms: decompressor, meter…) into a tar parser and call
 * `onEntry` for each entry in order. `onEntry` must consume the entry body (see `drain`).
 * Rejects with the root cause: an error of the chain (read, decompress, size limit), else of the
 * parser (corrupt/truncated tar), else what `onEntry` threw; all streams are torn down then.
 */
export async function readTar(chain: Readable[], onEntry: (header: TarHeader, body: TarEntry) => Promise<void>): Promise<void> {
  if (chain.length < 2) throw new Error('readTar: chain needs a source and at least one transform');
  const extract = tar.extract();
  let chainError: Error | undefined;
  let parseError: Error | undefined;
  extract.on('error', (err: Error) => {
    parseError ??= err;
  });
  const chainDone = new Promise<void>((resolve) => {
    const streams = chain as unknown as [Readable, ...Readable[]];
    const tail = (pipeline as unknown as (...args: unknown[]) => Readable)(...streams, (err: Error | null) => {
      if (err) {
        chainError ??= err;
        extract.destroy(err);
      }
      resolve();
    });
    tail.pipe(extract as unknown as NodeJS.WritableStream);
  });
  try {
    for await (const entry of extract) {
      await onEntry(entry.header, entry as unknown as TarEntry);
    }
  } catch (err) {
    for (const s of chain) if (!s.destroyed) s.destroy();
    throw chainError ?? parseError ?? err;
  }
  await chainDone;
  if (chainError) throw chainError;
}

/** Read and discard the rest of an entry body. */
export async function drain(body: TarEntry): Promise<void> {
  for await (const _chunk of body) {
    // discard
  }
}

/** Read an entry body into memory, refusing bodies over `limit` bytes. */
export async function readBody(body: TarEntry, limit: number, what: string): Promise<Buffer> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    size += chunk.length;
    if (size > limit) throw new Error(`${what} is larger than ${limit} bytes`);
    chunks.push(chunk);
  }
  return Buffer.concat(chunks);
}
