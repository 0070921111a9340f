/** Write small tarballs in memory, byte-for-byte reproducible (fixed order, owners and mtimes). */
import * as tar from 'tar-stream';

export type PackEntry =
  | { type: 'file'; name: string; data: Uint8Array | string; mode?: number; uid?: number; gid?: number }
  | { type: 'directory'; name: string; mode?: number; uid?: number; gid?: number }
  | { type: 'symlink'; name: string; linkname: string; uid?: number; gid?: number };

/** Pack `entries` in the order given; every entry gets `mtime`, no user/group names. */
export async function packTar(entries: readonly PackEntry[], mtime: Date): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const chunk of pack) chunks.push(chunk as Buffer);
  })();
  for (const e of entries) {
    const common = { name: e.name, mtime, uid: e.uid ?? 0, gid: e.gid ?? 0, uname: '', gname: '' };
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (e.type === 'file') {
        const data = typeof e.data === 'string' ? Buffer.from(e.data) : e.data;
        pack.entry({ ...common, type: 'file', mode: e.mode ?? 0o644, size: data.length }, data, done);
      } else if (e.type === 'directory') {
        pack.entry({ ...common, type: 'directory', mode: e.mode ?? 0o755 }, done);
      } else {
        pack.entry({ ...common, type: 'symlink', mode: 0o777, linkname: e.linkname }, done);
      }
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}
