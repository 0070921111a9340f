/**
 * Published ports: `-p [IP:][HOST:]CONTAINER[/tcp|udp]`, `-P` (the image's ExposedPorts to
 * random host ports). A binding is claimed in `<root>/networks/ports/<proto>-<port>` (O_EXCL, so
 * two containers of a root never take one port) and refused when a host process already has the
 * port; the claim carries the container's address, from which the nft rules are rendered.
 */
import { promises as fs } from 'node:fs';
import * as net from 'node:net';
import * as path from 'node:path';
import { readJson } from './atomic.js';
import { ConflictError, InvalidArgumentError } from './errors.js';
import { parseIp } from '../net/ipv4.js';

export type Proto = 'tcp' | 'udp';

export interface PortSpec {
  containerPort: number;
  proto: Proto;
  hostIp?: string;
  /** Absent: a random free port. */
  hostPort?: number;
}

export interface PortBinding {
  containerId: string;
  containerPort: number;
  proto: Proto;
  hostIp?: string;
  hostPort: number;
  /** The container's address the host port leads to. */
  ip: string;
}

function port(text: string, what: string, spec: string): number {
  const n = Number(text);
  if (!/^\d+$/.test(text) || n < 1 || n > 65535) throw new InvalidArgumentError(`invalid -p "${spec}": ${what} port "${text}" is not a number from 1 to 65535`);
  return n;
}

/** `-p` (docker's forms, without ranges). */
export function parsePortFlag(spec: string): PortSpec {
  const [main, protoText = 'tcp', extra] = spec.split('/');
  if (extra !== undefined || (protoText !== 'tcp' && protoText !== 'udp')) throw new InvalidArgumentError(`invalid -p "${spec}": the protocol must be tcp or udp`);
  const parts = main!.split(':');
  if (parts.length > 3) throw new InvalidArgumentError(`invalid -p "${spec}": use [IP:][HOST:]CONTAINER[/tcp|udp]`);
  const containerPort = port(parts[parts.length - 1]!, 'container', spec);
  const hostText = parts.length >= 2 ? parts[parts.length - 2]! : '';
  const ipText = parts.length === 3 ? parts[0]! : '';
  if (ipText && parseIp(ipText) === undefined) throw new InvalidArgumentError(`invalid -p "${spec}": "${ipText}" is not an IPv4 address`);
  return {
    containerPort,
    proto: protoText,
    ...(ipText && ipText !== '0.0.0.0' ? { hostIp: ipText } : {}),
    ...(hostText ? { hostPort: port(hostText, 'host', spec) } : {}),
  };
}

/** The image's `ExposedPorts` keys (`80/tcp`) as specs with random host ports (`-P`). */
export function exposedPorts(exposed: Record<string, unknown> | undefined): PortSpec[] {
  return Object.keys(exposed ?? {}).flatMap((k) => {
    const [p, proto = 'tcp'] = k.split('/');
    const n = Number(p);
    return Number.isInteger(n) && n > 0 && n < 65536 && (proto === 'tcp' || proto === 'udp') ? [{ containerPort: n, proto }] : [];
  });
}

export class PortClaims {
  readonly dir: string;

  constructor(root: string) {
    this.dir = path.join(root, 'networks', 'ports');
  }

  private file = (proto: Proto, hostPort: number) => path.join(this.dir, `${proto}-${hostPort}`);

  async list(): Promise<PortBinding[]> {
    const names = await fs.readdir(this.dir).catch(() => [] as string[]);
    const all = await Promise.all(names.filter((n) => /^(tcp|udp)-\d+$/.test(n)).map((n) => readJson<PortBinding>(path.join(this.dir, n)).catch(() => undefined)));
    return all.filter((b): b is PortBinding => !!b);
  }

  async of(containerId: string): Promise<PortBinding[]> {
    return (await this.list()).filter((b) => b.containerId === containerId).sort((a, b) => a.containerPort - b.containerPort || a.proto.localeCompare(b.proto));
  }

  /** Claim every spec for the container at `ip`; on failure nothing stays claimed. */
  async claim(containerId: string, ip: string, specs: PortSpec[]): Promise<PortBinding[]> {
    await fs.mkdir(this.dir, { recursive: true, mode: 0o700 });
    const done: PortBinding[] = [];
    try {
      for (const s of specs) {
        const hostPort = s.hostPort ?? (await freeHostPort(s.proto, s.hostIp, (p) => this.file(s.proto, p)));
        const b: PortBinding = { containerId, containerPort: s.containerPort, proto: s.proto, hostPort, ip, ...(s.hostIp ? { hostIp: s.hostIp } : {}) };
        if (!(await hostPortFree(s.proto, s.hostIp, hostPort))) {
          throw new ConflictError(`cannot publish ${s.hostIp ?? '0.0.0.0'}:${hostPort}/${s.proto}: a host process is already listening there`, 'PORT_IN_USE');
        }
        try {
          await fs.writeFile(this.file(s.proto, hostPort), JSON.stringify(b) + '\n', { flag: 'wx', mode: 0o600 });
        } catch (err) {
          if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
          const owner = await readJson<PortBinding>(this.file(s.proto, hostPort)).catch(() => undefined);
          throw new ConflictError(`cannot publish ${hostPort}/${s.proto}: port is already allocated${owner ? ` to container ${owner.containerId.slice(0, 12)}` : ''}`, 'PORT_IN_USE');
        }
        done.push(b);
      }
      return done;
    } catch (err) {
      for (const b of done) await fs.rm(this.file(b.proto, b.hostPort), { force: true });
      throw err;
    }
  }

  async release(containerId: string): Promise<void> {
    for (const b of await this.of(containerId)) await fs.rm(this.file(b.proto, b.hostPort), { force: true });
  }
}

/** A port the kernel calls free (bind to 0), not claimed in this root. */
async function freeHostPort(proto: Proto, hostIp: string | undefined, claimFile: (p: number) => string): Promise<number> {
  for (let i = 0; i < 20; i++) {
    const p = await bindProbe(proto, hostIp, 0);
    if (p && !(await fs.stat(claimFile(p)).catch(() => undefined))) return p;
  }
  throw new ConflictError('no free host port found for -P / -p without a host port', 'PORT_IN_USE');
}

async function hostPortFree(proto: Proto, hostIp: string | undefined, p: number): Promise<boolean> {
  return (await bindProbe(proto, hostIp, p)) !== undefined;
}

/** Bind briefly to see whether the port is free; resolves with the bound port, or undefined. */
async function bindProbe(proto: Proto, hostIp: string | undefined, p: number): Promise<number | undefined> {
  const dgram = proto === 'udp' ? await import('node:dgram') : undefined; // only for UDP ports
  return new Promise((resolve) => {
    if (dgram) {
      const s = dgram.createSocket('udp4');
      s.once('error', () => resolve(undefined));
      s.bind(p, hostIp ?? '0.0.0.0', () => {
        const got = s.address().port;
        s.close(() => resolve(got));
      });
      return;
    }
    const srv = net.createServer();
    srv.once('error', () => resolve(undefined));
    srv.listen({ port: p, host: hostIp ?? '0.0.0.0', exclusive: true }, () => {
      const got = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(got));
    });
  });
}
