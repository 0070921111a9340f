import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { BundleError } from './errors.js';
import type { OciConfig, OciProcess } from './oci-config.js';

export interface Bundle {
  /** Absolute bundle directory. */
  dir: string;
  config: OciConfig;
  /** Absolute rootfs directory (checked to exist). */
  rootfs: string;
  annotations: Record<string, string>;
}

/** Read and check `config.json` of a bundle; every failure names the file and what to fix. */
export async function loadBundle(dir: string | undefined): Promise<Bundle> {
  const abs = path.resolve(dir ?? '.');
  const file = path.join(abs, 'config.json');
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') {
      throw new BundleError(`bundle \`${abs}\`: no config.json there (${(await isDir(abs)) ? 'a bundle is a directory with config.json and its rootfs' : 'the bundle directory does not exist'}; pass the right --bundle)`);
    }
    throw new BundleError(`bundle \`${abs}\`: read config.json: ${(err as Error).message}`);
  }
  let config: OciConfig;
  try {
    config = JSON.parse(text) as OciConfig;
  } catch (err) {
    throw new BundleError(`bundle \`${abs}\`: config.json is not valid JSON: ${(err as Error).message}`);
  }
  if (!config || typeof config !== 'object' || Array.isArray(config)) throw new BundleError(`bundle \`${abs}\`: config.json must hold a JSON object`);
  const rootPath = config.root?.path;
  if (typeof rootPath !== 'string' || !rootPath) throw new BundleError(`bundle \`${abs}\`: config.json has no root.path (the container's root filesystem)`);
  const rootfs = path.resolve(abs, rootPath);
  if (!(await isDir(rootfs))) throw new BundleError(`bundle \`${abs}\`: rootfs \`${rootfs}\` (root.path in config.json) does not exist or is not a directory`);
  const annotations = config.annotations ?? {};
  if (typeof annotations !== 'object' || Array.isArray(annotations)) throw new BundleError(`bundle \`${abs}\`: annotations in config.json must be an object of strings`);
  return { dir: abs, config, rootfs, annotations };
}

/** The process to run, checked: args, env, cwd and user as the guest protocol carries them. */
export function checkProcess(p: OciProcess | undefined, where: string): Required<Pick<OciProcess, 'args' | 'env' | 'cwd'>> & { user: string; terminal: boolean } {
  if (!p || typeof p !== 'object') throw new BundleError(`${where}: no process to run`);
  const args = p.args;
  if (!Array.isArray(args) || args.length === 0 || !args.every((a) => typeof a === 'string') || !args[0]) {
    throw new BundleError(`${where}: process.args must be a non-empty list of strings (the command to run)`);
  }
  const env = p.env ?? [];
  if (!Array.isArray(env) || !env.every((e) => typeof e === 'string' && e.includes('='))) throw new BundleError(`${where}: process.env must be a list of KEY=VALUE strings`);
  const cwd = p.cwd ?? '/';
  if (typeof cwd !== 'string' || !cwd.startsWith('/')) throw new BundleError(`${where}: process.cwd must be an absolute path, not "${String(cwd)}"`);
  const uid = p.user?.uid ?? 0;
  const gid = p.user?.gid ?? 0;
  if (!Number.isInteger(uid) || uid < 0 || !Number.isInteger(gid) || gid < 0) throw new BundleError(`${where}: process.user.uid and gid must be non-negative integers`);
  for (const s of [...args, ...env, cwd]) if (s.includes('\0')) throw new BundleError(`${where}: process strings must not contain NUL bytes`);
  return { args, env, cwd, user: `${uid}:${gid}`, terminal: p.terminal === true };
}

async function isDir(p: string): Promise<boolean> {
  return (await fs.stat(p).catch(() => undefined))?.isDirectory() ?? false;
}
