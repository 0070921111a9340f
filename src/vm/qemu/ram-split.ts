import { closeSync, fdatasync, ftruncateSync, openSync, writeSync, writevSync } from 'node:fs';
import { BackendError } from '../../core/errors.js';
import { PAGE, RamDigester, digestRamFile, isZeroPage } from '../../core/ram-digest.js';
import type { Digest } from '../../core/checkpoint-manifest.js';

/**
 * Splits a QEMU 7.2 migration stream (a full save: RAM and devices) into the guest's RAM, as a
 * sparse file of its memory size, and the rest of the stream without that RAM block's pages.
 * A QEMU that maps the RAM file (`memory-backend-file`, privately) and loads the rest resumes the
 * same guest without copying its memory through the stream (docs/checkpoints.md).
 *
 * QEMU 7.2 leaves RAM out of a stream only for blocks mapped shared (`x-ignore-shared`); a
 * sandbox's RAM is anonymous or a private mapping, so the saver sends it and this takes it out.
 * The format (migration/savevm.c, ram.c): a header, a configuration section, then RAM sections
 * (start, part…, end) made of page records, then the device sections, which pass through as they
 * are. Loading needs nothing else: the loader keeps whatever is mapped for a block it gets no
 * pages for. The stream comes from a QEMU that runs guest code, so it is parsed as hostile:
 * anything unexpected fails the save rather than being guessed at.
 */

const MAGIC = 0x5145564d;
const VERSION = 3;
const SEC = { start: 0x01, part: 0x02, end: 0x03, full: 0x04, subsection: 0x05, configuration: 0x07, footer: 0x7e } as const;
const FLAG = { zero: 0x02, memSize: 0x04, page: 0x08, eos: 0x10, cont: 0x20 } as const;
/** Records this splitter understands; others (xbzrle, compression, RDMA hooks, multifd) fail the save. */
const KNOWN_PAGE_FLAGS = FLAG.zero | FLAG.page | FLAG.cont;
/** Start writing the RAM file back to the disk every this many bytes written. */
const WRITEBACK_BYTES = 16 << 20;
/** Pages in one write (writev: at most IOV_MAX, 1024, buffers). */
const RUN_PAGES = 256;
/** Bytes of a new chunk joined to what was left of the last one: more than any record (a RAM block list is the longest). */
const JOIN = 64 * 1024;
/** Names of a sandbox's RAM block: `ram` (restored from a template), `microvm.ram` (booted, QEMU's default). */
export const RAM_BLOCK_NAMES = ['ram', 'microvm.ram'] as const;
export type RamBlockName = (typeof RAM_BLOCK_NAMES)[number];

export interface SplitResult {
  /** The name of the guest's RAM block in the stream (a restore's memory backend must have it). */
  ramBlock: RamBlockName;
  ramDigest: Digest;
  /** Bytes of the stream without the RAM block's pages. */
  stateBytes: number;
  /** Non-zero pages written to the RAM file. */
  pages: number;
}

const unsupported = (what: string) => new BackendError(`save VM state: unexpected migration stream (${what})`, 'SNAPSHOT_FAILED');

export class RamSplitter {
  private readonly stateFd: number;
  private readonly ramFd: number;
  private mode: 'header' | 'top' | 'ram' | 'pass' = 'header';
  private carry = Buffer.alloc(0);
  private ramSection: number | undefined;
  private endSeen = false;
  private readonly blocks = new Map<string, number>();
  private block: string | undefined;
  private ramBlock: RamBlockName | undefined;
  private readonly npages: number;
  /** Pages of the RAM file holding non-zero data (a later zero record for one must clear it). */
  private readonly written: Uint8Array;
  private readonly digester = new RamDigester();
  private run: { first: number; pages: Buffer[] } | undefined;
  private stateBytes = 0;
  private pages = 0;
  private out: Buffer[] = [];
  /** RAM bytes written since the last writeback was started, and the writebacks under way. */
  private unsynced = 0;
  private syncing: Promise<void>[] = [];

  /**
   * `ramBytes`: the guest's memory size (its RAM block is the one of that size named as in
   * RAM_BLOCK_NAMES). `writeback`: start writing the RAM file to the disk as it fills (a checkpoint
   * kept on disk: its fsync then has little left); off for a file that only lives while it is used
   * (a fork's, a migration's), where waiting for the disk only lengthens the guest's stop.
   */
  constructor(statePath: string, private readonly ramPath: string, private readonly ramBytes: number, private readonly writeback = true) {
    this.npages = ramBytes / PAGE;
    this.written = new Uint8Array(this.npages);
    this.stateFd = openSync(statePath, 'wx', 0o600);
    try {
      this.ramFd = openSync(ramPath, 'wx', 0o600);
      ftruncateSync(this.ramFd, ramBytes);
    } catch (err) {
      closeSync(this.stateFd);
      throw err;
    }
  }

  /** Take the next bytes of the stream (synchronously written out). */
  push(chunk: Buffer): void {
    let from = 0;
    if (this.carry.length) {
      // finish the record cut at the end of the last chunk on a small joined buffer (not a copy of the chunk)
      const carried = this.carry.length;
      const joined = Buffer.concat([this.carry, chunk.subarray(0, JOIN)]);
      const o = this.parse(joined);
      if (o < carried) {
        if (chunk.length > JOIN) throw unsupported('a record longer than any it may hold');
        this.carry = joined.subarray(o);
        return this.flushOut();
      }
      from = o - carried;
    }
    const o = this.parse(chunk, from);
    this.carry = Buffer.from(chunk.subarray(o));
    this.flushOut();
  }

  /** Parse what `buf` holds from `o`; returns where the first incomplete record starts. */
  private parse(buf: Buffer, o = 0): number {
    for (;;) {
      if (this.passing()) {
        this.emit(buf.subarray(o));
        return buf.length;
      }
      const n = this.mode === 'header' ? this.header(buf, o) : this.mode === 'top' ? this.top(buf, o) : this.record(buf, o);
      if (n === 0 && !this.passing()) return o;
      o += n;
    }
  }

  /** The stream ended: check it was whole, finish the files. */
  async end(): Promise<SplitResult> {
    this.flushRun();
    await Promise.all(this.syncing);
    this.close();
    if (this.mode !== 'pass' || this.carry.length) throw unsupported(`it ended in the ${this.mode === 'pass' ? 'middle of a record' : `${this.mode} part`}`);
    if (!this.ramBlock) throw unsupported('no RAM block list');
    const ramDigest = this.digester.ok ? this.digester.digest(this.ramBytes) : await digestRamFile(this.ramPath);
    return { ramBlock: this.ramBlock, ramDigest, stateBytes: this.stateBytes, pages: this.pages };
  }

  /** Give up (the stream failed): close the files; the caller removes them. */
  close(): void {
    for (const fd of [this.stateFd, this.ramFd]) {
      try {
        closeSync(fd);
      } catch {
        // already closed
      }
    }
  }

  /** A method, not a field test: TypeScript would keep `mode` narrowed across the calls that change it. */
  private passing(): boolean {
    return this.mode === 'pass';
  }

  private header(b: Buffer, o: number): number {
    if (b.length - o < 8) return 0;
    if (b.readUInt32BE(o) !== MAGIC || b.readUInt32BE(o + 4) !== VERSION) throw unsupported('not a QEMU migration stream of version 3');
    this.emit(b.subarray(o, o + 8));
    this.mode = 'top';
    return 8;
  }

  /** A section boundary: configuration, a RAM section's header, a footer, or the first device section. */
  private top(b: Buffer, o: number): number {
    const left = b.length - o;
    if (left < 1) return 0;
    const type = b[o]!;
    let n: number;
    if (type === SEC.configuration) {
      if (left < 5) return 0;
      n = 5 + b.readUInt32BE(o + 1);
      if (n > 5 + 256) throw unsupported('configuration name too long');
    } else if (type === SEC.footer || type === SEC.part || type === SEC.end) {
      if (left < 5) return 0;
      n = 5;
      if (type !== SEC.footer) {
        if (b.readUInt32BE(o + 1) !== this.ramSection) throw unsupported(`iterative section ${b.readUInt32BE(o + 1)} is not RAM`);
        if (type === SEC.end) this.endSeen = true;
        this.mode = 'ram';
      }
    } else if (type === SEC.start) {
      if (left < 6) return 0;
      n = 6 + b[o + 5]! + 8;
      if (left < n) return 0;
      const idstr = b.toString('latin1', o + 6, o + 6 + b[o + 5]!);
      if (idstr !== 'ram' || this.ramSection !== undefined) throw unsupported(`iterative section ${idstr}`);
      this.ramSection = b.readUInt32BE(o + 1);
      this.mode = 'ram';
    } else if (type === SEC.full && this.endSeen) {
      this.mode = 'pass'; // the device sections, and the rest: as they are
      return 0;
    } else {
      throw unsupported(`section type 0x${type.toString(16)} ${this.endSeen ? 'after' : 'before'} the end of RAM`);
    }
    if (left < n) return 0;
    this.emit(b.subarray(o, o + n));
    return n;
  }

  /** One record of a RAM section. */
  private record(b: Buffer, o: number): number {
    const left = b.length - o;
    if (left < 8) return 0;
    const hi = b.readUInt32BE(o);
    const lo = b.readUInt32BE(o + 4);
    const flags = lo & (PAGE - 1);
    const addr = hi * 2 ** 32 + (lo - flags);
    if (flags === FLAG.eos) {
      this.emit(b.subarray(o, o + 8));
      this.mode = 'top';
      return 8;
    }
    if (flags === FLAG.memSize) return this.memSize(b, o, addr);
    if ((flags & ~KNOWN_PAGE_FLAGS) !== 0 || (flags & (FLAG.zero | FLAG.page)) === 0 || (flags & FLAG.zero && flags & FLAG.page)) throw unsupported(`RAM record flags 0x${flags.toString(16)}`);
    let n = 8;
    let block = this.block;
    if (!(flags & FLAG.cont)) {
      if (left < 9 || left < 9 + b[o + 8]!) return 0;
      block = b.toString('latin1', o + 9, o + 9 + b[o + 8]!);
      n += 1 + b[o + 8]!;
    }
    const size = flags & FLAG.page ? PAGE : 1;
    if (left < n + size) return 0;
    const length = block === undefined ? undefined : this.blocks.get(block);
    if (length === undefined) throw unsupported(`a page of unknown RAM block ${block ?? '(none)'}`);
    if (addr + PAGE > length) throw unsupported(`a page beyond RAM block ${block}`);
    this.block = block;
    const payload = b.subarray(o + n, o + n + size);
    if (block === this.ramBlock) {
      this.page(addr / PAGE, flags & FLAG.page ? payload : payload[0] === 0 ? undefined : Buffer.alloc(PAGE, payload[0]));
    } else {
      // another block (firmware, ACPI tables): kept, naming its block (the records around it are gone)
      const name = Buffer.from(block!, 'latin1');
      const head = Buffer.alloc(9);
      head.writeUInt32BE(hi, 0);
      head.writeUInt32BE(lo & ~FLAG.cont, 4);
      head[8] = name.length;
      this.emit(Buffer.concat([head, name, payload]));
    }
    return n + size;
  }

  /** The list of RAM blocks and their sizes (kept as it is: the loader checks it against its own). */
  private memSize(b: Buffer, o: number, total: number): number {
    let p = o + 8;
    let sum = 0;
    const found = new Map<string, number>();
    while (sum < total) {
      if (b.length - p < 1 || b.length - p < 1 + b[p]! + 8) return 0;
      const name = b.toString('latin1', p + 1, p + 1 + b[p]!);
      const len = Number(b.readBigUInt64BE(p + 1 + b[p]!));
      p += 1 + b[p]! + 8;
      if (len % PAGE || found.has(name) || found.size > 64) throw unsupported('invalid RAM block list');
      found.set(name, len);
      sum += len;
    }
    if (sum !== total || this.blocks.size) throw unsupported('invalid RAM block list');
    const guest = RAM_BLOCK_NAMES.filter((n) => found.get(n) === this.ramBytes);
    if (guest.length !== 1) throw unsupported(`no guest RAM block of ${this.ramBytes} bytes named ${RAM_BLOCK_NAMES.join(' or ')}`);
    this.ramBlock = guest[0];
    for (const [k, v] of found) this.blocks.set(k, v);
    this.emit(b.subarray(o, p));
    return p - o;
  }

  /** Page `n` of the guest RAM: `data`, or zeros (undefined). */
  private page(n: number, data: Buffer | undefined): void {
    if (data && isZeroPage(data)) data = undefined;
    this.digester.page(n, data);
    if (!data) {
      if (!this.written[n]) return; // a hole already reads as zeros
      this.flushRun();
      writeAll(this.ramFd, ZERO_PAGE, n * PAGE);
      this.written[n] = 0;
      return;
    }
    this.written[n] = 1;
    this.pages++;
    // consecutive pages in one write, from the stream's buffers as they are (no copy)
    const r = this.run;
    if (r && r.first + r.pages.length === n && r.pages.length < RUN_PAGES) {
      r.pages.push(data);
      return;
    }
    this.flushRun();
    this.run = { first: n, pages: [data] };
  }

  private flushRun(): void {
    const r = this.run;
    if (!r) return;
    this.run = undefined;
    let position = r.first * PAGE;
    let pages = r.pages;
    this.unsynced += pages.length * PAGE;
    if (this.writeback && this.unsynced >= WRITEBACK_BYTES) {
      // the data on its way to the disk while the stream goes on (the checkpoint's fsync then has little left)
      this.unsynced = 0;
      this.syncing.push(new Promise<void>((resolve) => fdatasync(this.ramFd, () => resolve())));
    }
    while (pages.length) {
      let n = writevSync(this.ramFd, pages, position);
      position += n;
      // a short write (rare on a regular file): go on from where it stopped
      while (pages.length && n >= pages[0]!.length) n -= pages.shift()!.length;
      if (n) pages = [pages[0]!.subarray(n), ...pages.slice(1)];
    }
  }

  private emit(b: Buffer): void {
    if (b.length) this.out.push(b);
  }

  private flushOut(): void {
    if (!this.out.length) return;
    const all = this.out.length === 1 ? this.out[0]! : Buffer.concat(this.out);
    this.out = [];
    writeAll(this.stateFd, all, this.stateBytes);
    this.stateBytes += all.length;
  }
}

const ZERO_PAGE = Buffer.alloc(PAGE);

function writeAll(fd: number, buf: Buffer, position: number): void {
  for (let done = 0; done < buf.length; ) done += writeSync(fd, buf, done, buf.length - done, position + done);
}
