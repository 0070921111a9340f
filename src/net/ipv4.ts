/** IPv4 addresses and subnets as numbers (no library: nestbox needs a handful of operations). */
import { InvalidArgumentError } from '../core/errors.js';

export interface Subnet {
  /** Network address as a number. */
  base: number;
  prefix: number;
}

export function parseIp(text: string): number | undefined {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(text.trim());
  if (!m) return undefined;
  const parts = m.slice(1).map(Number);
  if (parts.some((p) => p > 255)) return undefined;
  return ((parts[0]! << 24) >>> 0) + (parts[1]! << 16) + (parts[2]! << 8) + parts[3]!;
}

export function formatIp(n: number): string {
  return [n >>> 24, (n >>> 16) & 255, (n >>> 8) & 255, n & 255].join('.');
}

export function maskOf(prefix: number): number {
  return prefix === 0 ? 0 : (0xffffffff << (32 - prefix)) >>> 0;
}

/** `10.89.3.0/24`; the address must be the network's own (no host bits). */
export function parseSubnet(text: string, flag = '--subnet'): Subnet {
  const m = /^([\d.]+)\/(\d{1,2})$/.exec(text.trim());
  const base = m ? parseIp(m[1]!) : undefined;
  const prefix = m ? Number(m[2]) : NaN;
  if (base === undefined || !(prefix >= 8 && prefix <= 30)) {
    throw new InvalidArgumentError(`invalid ${flag} "${text}": use an IPv4 CIDR with a prefix from /8 to /30, e.g. 10.89.7.0/24`);
  }
  if ((base & maskOf(prefix)) >>> 0 !== base) {
    throw new InvalidArgumentError(`invalid ${flag} "${text}": the address has host bits set (did you mean ${formatIp((base & maskOf(prefix)) >>> 0)}/${prefix}?)`);
  }
  return { base, prefix };
}

export function formatSubnet(s: Subnet): string {
  return `${formatIp(s.base)}/${s.prefix}`;
}

export function contains(s: Subnet, ip: number): boolean {
  return ((ip & maskOf(s.prefix)) >>> 0) === s.base;
}

export function overlaps(a: Subnet, b: Subnet): boolean {
  const p = Math.min(a.prefix, b.prefix);
  return ((a.base & maskOf(p)) >>> 0) === ((b.base & maskOf(p)) >>> 0);
}

/** Docker's choice: the gateway is the first host address. */
export function gatewayOf(s: Subnet): number {
  return s.base + 1;
}

/** The last usable host address (the one before broadcast). */
export function lastHost(s: Subnet): number {
  return s.base + 2 ** (32 - s.prefix) - 2;
}

/** A locally administered MAC derived from the IP, as docker does (02:42:a.b.c.d). */
export function macFor(ip: number): string {
  return ['02', '42', ...[ip >>> 24, (ip >>> 16) & 255, (ip >>> 8) & 255, ip & 255].map((b) => b.toString(16).padStart(2, '0'))].join(':');
}
