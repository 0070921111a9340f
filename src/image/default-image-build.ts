/**
 * Build the embedded default image `busybox:latest` from the host's busybox-static as an
 * oci-archive: one gzip layer with /bin/busybox, a symlink per applet, a minimal /etc. Fixed
 * mtimes, owners and order, so the same busybox binary always gives the same image digest.
 */
import { execFile } from 'node:child_process';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { promisify } from 'node:util';
import { writeFileAtomic } from '../core/atomic.js';
import { BackendError } from '../core/errors.js';
import { DEFAULT_IMAGE_REF } from './default-image.js';
import { makeOciImage, ociArchiveBytes } from './oci-write.js';
import { packTar, type PackEntry } from './tar-write.js';

const run = promisify(execFile);

/** 2024-01-01T00:00:00Z unless SOURCE_DATE_EPOCH says otherwise. */
const DEFAULT_EPOCH = 1704067200;

export interface DefaultImageBuild {
  manifestDigest: string;
  configDigest: string;
  applets: number;
}

const PASSWD = 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\nuser:x:1000:1000:user:/home/user:/bin/sh\n';
const GROUP = 'root:x:0:\nnobody:x:65534:\nuser:x:1000:\n';
const HOSTS = '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n';
const PATH_ENV = 'PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin';

export async function buildDefaultImage(out: string, busybox = '/bin/busybox'): Promise<DefaultImageBuild> {
  const binary = await fs.readFile(busybox).catch((err) => {
    throw new BackendError(`build default image: read \`${busybox}\`: ${(err as Error).message} (install busybox-static)`, 'BACKEND_MISSING');
  });
  const { applets, version } = await describeBusybox(busybox);
  const epoch = Number(process.env.SOURCE_DATE_EPOCH ?? DEFAULT_EPOCH);
  const mtime = new Date(epoch * 1000);
  const entries: PackEntry[] = [
    { type: 'directory', name: 'bin/' },
    { type: 'file', name: 'bin/busybox', data: binary, mode: 0o755 },
    ...applets.map((a): PackEntry => ({ type: 'symlink', name: `bin/${a}`, linkname: 'busybox' })),
    ...['dev/', 'etc/'].map((name): PackEntry => ({ type: 'directory', name })),
    { type: 'file', name: 'etc/group', data: GROUP },
    { type: 'file', name: 'etc/hosts', data: HOSTS },
    { type: 'file', name: 'etc/passwd', data: PASSWD },
    { type: 'directory', name: 'home/' },
    { type: 'directory', name: 'home/user/', uid: 1000, gid: 1000 },
    { type: 'directory', name: 'proc/', mode: 0o555 },
    { type: 'directory', name: 'root/', mode: 0o700 },
    { type: 'directory', name: 'sys/', mode: 0o555 },
    { type: 'directory', name: 'tmp/', mode: 0o1777 },
    ...['usr/', 'usr/bin/', 'usr/sbin/', 'var/'].map((name): PackEntry => ({ type: 'directory', name })),
  ];
  const created = mtime.toISOString();
  const image = makeOciImage({
    layers: [await packTar(entries, mtime)],
    gzip: true,
    config: { Cmd: ['sh'], Env: [PATH_ENV], WorkingDir: '/' },
    architecture: 'amd64',
    os: 'linux',
    created,
    history: [{ created, created_by: `nestbox build-default-image: ${version}, ${applets.length} applets in /bin` }],
    name: DEFAULT_IMAGE_REF,
  });
  await fs.mkdir(path.dirname(path.resolve(out)), { recursive: true });
  await writeFileAtomic(out, await ociArchiveBytes(image, mtime));
  return { manifestDigest: image.manifestDigest, configDigest: image.configDigest, applets: applets.length };
}

async function describeBusybox(busybox: string): Promise<{ applets: string[]; version: string }> {
  try {
    const list = (await run(busybox, ['--list'])).stdout;
    const applets = [...new Set(list.split('\n').map((s) => s.trim()))].filter((a) => a !== '' && a !== 'busybox' && !a.includes('/')).sort();
    const help = await run(busybox, ['--help']).then((r) => r.stdout, (err: { stdout?: string }) => err.stdout ?? '');
    const version = /BusyBox v[^\s]+(?: \([^)]*\))?/.exec(help)?.[0] ?? 'BusyBox';
    return { applets, version };
  } catch (err) {
    throw new BackendError(`build default image: run \`${busybox} --list\`: ${(err as Error).message}`, 'BACKEND_FAILED', { cause: err });
  }
}
