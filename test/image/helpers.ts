/** Shared fixtures for the image tests: temp dirs, hand-made layers and archives, the default image. */
import { promises as fs, rmSync } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tar from 'tar-stream';
import { buildDefaultImage } from '../../src/image/default-image-build.js';
import { makeOciImage, ociArchiveBytes, type OciImageSpec } from '../../src/image/oci-write.js';
import { ImageStore } from '../../src/image/store.js';
import { after, before } from 'node:test';

export async function tempDir(prefix = 'nestbox-image-test-'): Promise<string> {
  return fs.mkdtemp(path.join(os.tmpdir(), prefix));
}

/** A temp root for one test file (made before its tests, removed after) and fresh stores in it. */
export function storeFixture(): { root: string; freshDir: () => string; freshStore: () => { dir: string; store: ImageStore } } {
  let n = 0;
  const fx = {
    root: '',
    freshDir: () => path.join(fx.root, `store-${n++}`),
    freshStore: () => {
      const dir = fx.freshDir();
      return { dir, store: new ImageStore(dir) };
    },
  };
  before(async () => {
    fx.root = await tempDir();
  });
  after(async () => {
    await fs.rm(fx.root, { recursive: true, force: true });
  });
  return fx;
}

export type RawEntry = Partial<tar.Header> & { name: string; data?: string | Buffer };

/** A tarball with exactly these headers (nothing is sanitised: hostile names go in as given). */
export async function rawTar(entries: RawEntry[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  const collected = (async () => {
    for await (const c of pack) chunks.push(c as Buffer);
  })();
  for (const { data, ...h } of entries) {
    const isFile = h.type === undefined || h.type === 'file' || h.type === 'contiguous-file';
    const body = data !== undefined || isFile ? Buffer.from(data ?? '') : undefined;
    const header = { mode: h.type === 'directory' ? 0o755 : 0o644, mtime: new Date(1_600_000_000_000), ...h, ...(body ? { size: body.length } : {}) };
    await new Promise<void>((resolve, reject) => {
      const done = (err?: Error | null) => (err ? reject(err) : resolve());
      if (body) pack.entry(header, body, done);
      else pack.entry(header, done);
    });
  }
  pack.finalize();
  await collected;
  return Buffer.concat(chunks);
}

/** Write an oci-archive of an image made of `layers` and return its path and digests. */
export async function writeOciArchive(dir: string, name: string, spec: Partial<OciImageSpec> & { layers: OciImageSpec['layers'] }) {
  const image = makeOciImage({ name: 'test/image:latest', ...spec });
  const file = path.join(dir, name);
  await fs.writeFile(file, await ociArchiveBytes(image));
  return { file, ...image };
}

let defaultTar: Promise<string> | undefined;

/** The embedded default image, built once per test process. */
export function defaultImageTar(): Promise<string> {
  defaultTar ??= (async () => {
    const dir = await tempDir('nestbox-default-image-');
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'busybox.oci.tar');
    await buildDefaultImage(file);
    return file;
  })();
  return defaultTar;
}

/** Names of the entries in a directory (sorted), or [] if it does not exist. */
export async function listDir(dir: string): Promise<string[]> {
  return (await fs.readdir(dir).catch(() => [] as string[])).sort();
}

/** A directory with a `secret` file that no test may change; returns a checker. */
export async function makeCanary(root: string): Promise<{ dir: string; assertUntouched: () => Promise<void> }> {
  const dir = path.join(root, 'canary');
  await fs.mkdir(dir);
  await fs.writeFile(path.join(dir, 'secret'), 'original');
  return {
    dir,
    async assertUntouched() {
      const names = await listDir(dir);
      const secret = await fs.readFile(path.join(dir, 'secret'), 'utf8');
      const st = await fs.stat(path.join(dir, 'secret'));
      if (names.join(',') !== 'secret' || secret !== 'original' || st.nlink !== 1 || (st.mode & 0o7777) !== 0o644) {
        throw new Error(`canary touched: entries ${names.join(',')}, secret=${secret}, nlink=${st.nlink}, mode=${(st.mode & 0o7777).toString(8)}`);
      }
    },
  };
}

/** Blobs, rootfs, disks and tmp of a store: all empty when nothing was kept. */
export async function storeContents(root: string): Promise<{ blobs: string[]; rootfs: string[]; disks: string[]; tmp: string[] }> {
  return {
    blobs: await listDir(path.join(root, 'blobs', 'sha256')),
    rootfs: await listDir(path.join(root, 'rootfs')),
    disks: await listDir(path.join(root, 'disks')),
    tmp: await listDir(path.join(root, 'tmp')),
  };
}
