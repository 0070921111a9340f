/**
 * Registry credentials. `nestbox login` writes them to nestbox's own auth file (Docker's
 * `config.json` format, mode 0600, directory 0700, replaced atomically):
 * `$NESTBOX_AUTH_FILE`, else `$XDG_CONFIG_HOME/nestbox/auth.json` (`~/.config/nestbox/auth.json`).
 * Lookups fall back to Docker's `$DOCKER_CONFIG/config.json` (`~/.docker/config.json`), read-only.
 */
import { promises as fs } from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { InvalidArgumentError } from '../core/errors.js';
import { DEFAULT_DOMAIN } from '../image/reference.js';

export interface Credentials {
  username: string;
  password: string;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface AuthFile {
  auths?: Record<string, AuthEntry>;
  [key: string]: unknown;
}

/** The key Docker uses for Docker Hub in config.json. */
const DOCKER_HUB_KEY = 'https://index.docker.io/v1/';

export function nestboxAuthFile(): string {
  if (process.env.NESTBOX_AUTH_FILE) return path.resolve(process.env.NESTBOX_AUTH_FILE);
  const config = process.env.XDG_CONFIG_HOME || path.join(os.homedir(), '.config');
  return path.join(config, 'nestbox', 'auth.json');
}

export function dockerConfigFile(): string {
  return path.join(process.env.DOCKER_CONFIG || path.join(os.homedir(), '.docker'), 'config.json');
}

/** The key a registry is stored under: Docker Hub under Docker's legacy URL, others by host. */
export function authKey(domain: string): string {
  return domain === DEFAULT_DOMAIN ? DOCKER_HUB_KEY : domain;
}

/** Credentials for `domain` from nestbox's auth file, else Docker's config.json. */
export async function findCredentials(domain: string): Promise<Credentials | undefined> {
  for (const file of [nestboxAuthFile(), dockerConfigFile()]) {
    const found = entryFor(await readAuthFile(file), domain);
    if (found) return found;
  }
  return undefined;
}

export async function storeCredentials(domain: string, creds: Credentials): Promise<string> {
  const file = nestboxAuthFile();
  const data = await readAuthFile(file);
  data.auths = { ...data.auths, [authKey(domain)]: { auth: Buffer.from(`${creds.username}:${creds.password}`).toString('base64') } };
  await writeAuthFile(file, data);
  return file;
}

/** Remove stored credentials; false when there were none in nestbox's file. */
export async function removeCredentials(domain: string): Promise<boolean> {
  const file = nestboxAuthFile();
  const data = await readAuthFile(file);
  const keys = Object.keys(data.auths ?? {}).filter((k) => normaliseKey(k) === domain);
  if (keys.length === 0) return false;
  for (const k of keys) delete data.auths![k];
  await writeAuthFile(file, data);
  return true;
}

function entryFor(data: AuthFile, domain: string): Credentials | undefined {
  for (const [key, entry] of Object.entries(data.auths ?? {})) {
    if (normaliseKey(key) !== domain) continue;
    if (entry.username && entry.password) return { username: entry.username, password: entry.password };
    if (entry.auth) {
      const decoded = Buffer.from(entry.auth, 'base64').toString('utf8');
      const colon = decoded.indexOf(':');
      if (colon > 0) return { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) };
    }
  }
  return undefined;
}

/** `https://index.docker.io/v1/` → `docker.io`; `http://host:5000/v2/` → `host:5000`. */
function normaliseKey(key: string): string {
  let host = key.replace(/^[a-z]+:\/\//, '').replace(/\/.*$/, '');
  if (host === 'index.docker.io' || host === 'registry-1.docker.io' || host === 'docker.io') host = DEFAULT_DOMAIN;
  return host;
}

async function readAuthFile(file: string): Promise<AuthFile> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return {};
    throw err;
  }
  try {
    const data = JSON.parse(text) as unknown;
    if (typeof data !== 'object' || data === null || Array.isArray(data)) throw new Error('not a JSON object');
    return data as AuthFile;
  } catch (err) {
    throw new InvalidArgumentError(`read credentials \`${file}\`: ${(err as Error).message}; fix or remove the file`);
  }
}

async function writeAuthFile(file: string, data: AuthFile): Promise<void> {
  await fs.mkdir(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}-${randomBytes(4).toString('hex')}.tmp`;
  try {
    await fs.writeFile(tmp, JSON.stringify(data, null, '\t') + '\n', { mode: 0o600, flag: 'wx' });
    await fs.rename(tmp, file);
  } finally {
    await fs.rm(tmp, { force: true });
  }
  await fs.chmod(file, 0o600);
}
