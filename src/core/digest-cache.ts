import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { digestFile, type Digest } from './checkpoint-manifest.js';
import { digestRamFile } from './ram-digest.js';

/** What a digest is of: a plain sha256 of the bytes, or a RAM file's digest (ram-digest.ts). */
export type DigestKind = 'sha256' | 'ram';
const HASHERS: Record<DigestKind, (file: string) => Promise<Digest>> = { sha256: digestFile, ram: digestRamFile };

/**
 * Verified sha256 digests of large files that rarely change (checkpoint state streams, the guest
 * kernel and initramfs, image root disks), kept under the state root so that each restore does
 * not hash ~150 MB again. An entry is keyed by the file's device and inode and is only believed
 * while its size, mtime and ctime (nanoseconds) are what they were when it was hashed: any write,
 * truncate, chmod or utimes changes ctime, which nobody can set back. A file whose ctime is not
 * clearly older than the moment hashing began, or that changed while it was hashed, is not
 * recorded (a write in the same clock tick could otherwise hide).
 */
export class DigestCache {
  private readonly memo = new Map<string, Promise<Digest>>();

  constructor(readonly dir: string) {}

  /** The file's digest: from the cache when its identity still matches, else hashed (and recorded). */
  async digest(file: string, kind: DigestKind = 'sha256'): Promise<Digest> {
    const before = await identity(file, kind);
    const memoKey = `${file}\0${before.key}`;
    const known = this.memo.get(memoKey);
    if (known) return known;
    const work = this.lookup(before).then(async (hit) => {
      if (hit) return hit;
      const startedNs = BigInt(Date.now() - TICK_MS) * 1_000_000n;
      const d = await HASHERS[kind](file);
      const after = await identity(file, kind);
      if (after.key === before.key && before.ctimeNs < startedNs && d.bytes === before.size) await this.store(before, d);
      return d;
    });
    this.memo.set(memoKey, work);
    work.catch(() => this.memo.delete(memoKey));
    return work;
  }

  /** Record a digest the caller just computed from the file's bytes (e.g. of a file it wrote). */
  async record(file: string, d: Digest, hashStartedMs: number, kind: DigestKind = 'sha256'): Promise<void> {
    const id = await identity(file, kind);
    if (id.size !== d.bytes || id.ctimeNs >= BigInt(hashStartedMs - TICK_MS) * 1_000_000n) return;
    await this.store(id, d);
  }

  /**
   * Record the digest of a file the caller wrote itself, from the bytes it wrote, once it has
   * finished writing and closed it (its last change), in a directory only it writes: the file's
   * identity now is the one those bytes have. (`record` cannot serve: the bytes were hashed while
   * they were written, so the file changed after hashing began.)
   */
  async recordWritten(file: string, d: Digest, kind: DigestKind): Promise<void> {
    const id = await identity(file, kind);
    if (id.size === d.bytes) await this.store(id, d);
  }

  /**
   * A fact about a file that only its bytes decide (`what`, e.g. a binary's `--version` line),
   * kept like a digest: believed while the file's identity is unchanged, else `compute`d again.
   */
  async about(file: string, what: string, compute: () => Promise<string>): Promise<string> {
    const id = await identity(file, 'sha256');
    const entry = path.join(this.dir, createHash('sha256').update(`${id.dev}:${id.ino}:about:${what}`).digest('hex').slice(0, 32));
    const text = await fs.readFile(entry, 'utf8').catch(() => undefined);
    try {
      const e = text ? (JSON.parse(text) as { key?: unknown; value?: unknown }) : undefined;
      if (e && e.key === id.key && typeof e.value === 'string' && e.value.length <= 4096) return e.value;
    } catch {
      // recompute
    }
    const value = await compute();
    if ((await identity(file, 'sha256')).key === id.key) {
      try {
        await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
        await fs.writeFile(`${entry}.tmp-${process.pid}`, JSON.stringify({ key: id.key, value }), { mode: 0o600 });
        await fs.rename(`${entry}.tmp-${process.pid}`, entry);
      } catch {
        // an unwritable cache only costs time
      }
    }
    return value;
  }

  private entryPath(id: FileIdentity): string {
    return path.join(this.dir, createHash('sha256').update(`${id.dev}:${id.ino}${id.kind === 'sha256' ? '' : `:${id.kind}`}`).digest('hex').slice(0, 32));
  }

  private async lookup(id: FileIdentity): Promise<Digest | undefined> {
    const text = await fs.readFile(this.entryPath(id), 'utf8').catch(() => undefined);
    if (!text) return undefined;
    try {
      const e = JSON.parse(text) as { key?: unknown; bytes?: unknown; sha256?: unknown };
      if (e.key !== id.key || e.bytes !== id.size || typeof e.sha256 !== 'string' || !/^[0-9a-f]{64}$/.test(e.sha256)) return undefined;
      return { bytes: e.bytes, sha256: e.sha256 };
    } catch {
      return undefined;
    }
  }

  private async store(id: FileIdentity, d: Digest): Promise<void> {
    try {
      await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
      const names = await fs.readdir(this.dir);
      // a cache, not a record: when it has grown large, start again
      if (names.length > MAX_ENTRIES) await Promise.all(names.map((n) => fs.rm(path.join(this.dir, n), { force: true })));
      const dst = this.entryPath(id);
      const tmp = `${dst}.tmp-${process.pid}`;
      await fs.writeFile(tmp, JSON.stringify({ key: id.key, bytes: d.bytes, sha256: d.sha256 }), { mode: 0o600 });
      await fs.rename(tmp, dst);
    } catch {
      // an unwritable cache only costs time
    }
  }
}

/** Coarse kernel timestamps advance in ticks of up to 10 ms: a file changed within one of hashing is not trusted. */
export const TICK_MS = 20;
const MAX_ENTRIES = 4096;

interface FileIdentity {
  key: string;
  kind: DigestKind;
  dev: bigint;
  ino: bigint;
  size: number;
  ctimeNs: bigint;
}

async function identity(file: string, kind: DigestKind): Promise<FileIdentity> {
  const st = await fs.stat(file, { bigint: true });
  const size = Number(st.size);
  // the kind is part of the key: the two digests of one file are different values
  return { key: `${st.dev}:${st.ino}:${size}:${st.mtimeNs}:${st.ctimeNs}${kind === 'sha256' ? '' : `:${kind}`}`, kind, dev: st.dev, ino: st.ino, size, ctimeNs: st.ctimeNs };
}
