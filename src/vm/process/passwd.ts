import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { InvalidArgumentError } from '../../core/errors.js';

export interface ResolvedUser {
  uid: number;
  gid: number;
  additionalGids: number[];
  home: string;
}

/**
 * Resolve `user`, `uid`, `user:group`, `uid:gid` against the rootfs's /etc/passwd and
 * /etc/group, as Docker does. Files come from the image: parse defensively.
 */
export async function resolveUser(rootfs: string, spec: string | undefined): Promise<ResolvedUser> {
  const [userPart = '', groupPart] = (spec || 'root').split(':', 2);
  const passwd = await readColonFile(path.join(rootfs, 'etc', 'passwd'));
  const groups = await readColonFile(path.join(rootfs, 'etc', 'group'));
  let uid: number;
  let gid: number;
  let home = '/';
  let name: string | undefined;
  const entry = passwd.find((f) => f[0] === userPart) ?? (/^\d+$/.test(userPart) ? passwd.find((f) => f[2] === userPart) : undefined);
  if (entry) {
    uid = toId(entry[2], userPart);
    gid = toId(entry[3], userPart);
    home = entry[5] || '/';
    name = entry[0];
  } else if (userPart === 'root') {
    uid = 0; // an image without /etc/passwd still runs as root
    gid = 0;
  } else if (/^\d+$/.test(userPart)) {
    uid = Number(userPart);
    gid = 0; // as Docker and the guest agent: a uid without a passwd entry gets group 0
  } else {
    throw new InvalidArgumentError(`unable to find user ${userPart}: no matching entries in passwd file`);
  }
  if (groupPart !== undefined && groupPart !== '') {
    const g = groups.find((f) => f[0] === groupPart);
    if (g) gid = toId(g[2], groupPart);
    else if (/^\d+$/.test(groupPart)) gid = Number(groupPart);
    else throw new InvalidArgumentError(`unable to find group ${groupPart}: no matching entries in group file`);
  }
  const additionalGids = name ? groups.filter((f) => (f[3] ?? '').split(',').includes(name!)).map((f) => toId(f[2], f[0] ?? '')) : [];
  return { uid, gid, additionalGids: [...new Set(additionalGids)].filter((g) => g !== gid), home };
}

function toId(value: string | undefined, subject: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value ?? '') || n > 0xfffffffe) throw new InvalidArgumentError(`invalid id "${value}" for ${subject} in the image's passwd/group file`);
  return n;
}

async function readColonFile(file: string): Promise<string[][]> {
  // lstat every component below the rootfs: a symlinked `etc` or `passwd` in an image must not
  // make the host read its own /etc/passwd
  const etc = await fs.lstat(path.dirname(file)).catch(() => undefined);
  if (!etc?.isDirectory()) return [];
  const st = await fs.lstat(file).catch(() => undefined);
  if (!st?.isFile() || st.size > 4 * 1024 * 1024) return [];
  const text = await fs.readFile(file, 'utf8');
  return text.split('\n').filter((l) => l && !l.startsWith('#')).map((l) => l.split(':'));
}
