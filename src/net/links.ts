/**
 * Host network devices: one Linux bridge per network, a persistent tap per VM NIC (QEMU opens it
 * by name before it drops to `nobody`), a network namespace plus a veth pair per process-isolated
 * container. Every operation is idempotent: a crash (kill -9 of QEMU, of the CLI) never leaves the
 * next start broken, it finds the device and reuses or recreates it.
 */
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { runTool, tryTool } from './run.js';

/** Bridges fully set up by us (address, MTU, up): a later start skips re-checking them. */
const READY_DIR = process.env.NESTBOX_BRIDGE_MARKS ?? '/run/nestbox/bridges';
const readyMark = (name: string) => `${READY_DIR}/${name}`;

const IP = process.env.NESTBOX_IP ?? 'ip';
export const NETNS_DIR = '/run/netns';

export function linkExists(name: string): boolean {
  return existsSync(`/sys/class/net/${name}`);
}

/** The bridge `name` with `gatewayCidr` on it, up. Ports on it do not leak to each other's hosts' other interfaces. */
export async function ensureBridge(name: string, gatewayCidr: string, mtu: number): Promise<void> {
  if (linkExists(name) && readFileSafe(readyMark(name)) === gatewayCidr) return;
  if (!linkExists(name)) {
    await runTool(IP, ['link', 'add', name, 'type', 'bridge', 'stp_state', '0', 'forward_delay', '0']).catch(async (err) => {
      if (!linkExists(name)) throw err; // another CLI made it meanwhile: fine
    });
  }
  const addrs = await runTool(IP, ['-o', '-4', 'addr', 'show', 'dev', name]);
  if (!addrs.includes(` ${gatewayCidr} `)) await runTool(IP, ['addr', 'replace', gatewayCidr, 'dev', name]);
  await runTool(IP, ['link', 'set', name, 'mtu', String(mtu), 'up']);
  // DNAT from the host's own 127.0.0.1 to a container leaves with a loopback source on this
  // bridge (then masqueraded): allowed on this interface only, never host-wide
  setSysctl(`net/ipv4/conf/${name}/route_localnet`, '1');
  // routing out of a bridge (NAT to the outside, published ports from other hosts), as docker
  // does; Debian's default is off
  setSysctl('net/ipv4/ip_forward', '1');
  mkdirSync(READY_DIR, { recursive: true, mode: 0o700 });
  writeFileSync(readyMark(name), gatewayCidr);
}

export async function deleteLink(name: string): Promise<void> {
  rmSync(readyMark(name), { force: true });
  if (linkExists(name)) await tryTool(IP, ['link', 'del', name]);
}

function readFileSafe(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** A persistent tap attached to `bridge`, up; an existing one (a crashed QEMU's) is reused. */
export async function ensureTap(name: string, bridge: string | undefined, mtu: number): Promise<void> {
  if (!linkExists(name)) {
    await runTool(IP, ['tuntap', 'add', 'dev', name, 'mode', 'tap', 'vnet_hdr']).catch(async (err) => {
      if (!linkExists(name)) throw err;
    });
  }
  await runTool(IP, ['link', 'set', name, 'mtu', String(mtu), ...(bridge ? ['master', bridge] : ['nomaster']), 'up']);
}

export function netnsPath(ns: string): string {
  return `${NETNS_DIR}/${ns}`;
}

/** The namespace `ns` (its lo is brought up with its NICs, by configureInside). */
export async function ensureNetns(ns: string): Promise<void> {
  if (existsSync(netnsPath(ns))) return;
  await runTool(IP, ['netns', 'add', ns]).catch((err) => {
    if (!existsSync(netnsPath(ns))) throw err; // another CLI made it meanwhile: fine
  });
}

export interface VethNic {
  /** Host end (on the bridge). */
  host: string;
  /** Name inside the namespace (eth0, eth1…). */
  inner: string;
  bridge: string;
  mac: string;
  cidr: string;
  gateway?: string;
  mtu: number;
}

/**
 * A veth pair from the bridge into namespace `ns`, addressed; recreated when either end is
 * missing. The namespace side is configured in one `ip -batch` (each `ip` costs a process start).
 */
export async function ensureVeth(ns: string, nic: VethNic): Promise<void> {
  const innerThere = await tryTool(IP, ['-n', ns, 'link', 'show', nic.inner]);
  if (!linkExists(nic.host) || !innerThere) {
    await deleteLink(nic.host);
    if (innerThere) await tryTool(IP, ['-n', ns, 'link', 'del', nic.inner]);
    await runTool(IP, ['link', 'add', nic.host, 'mtu', String(nic.mtu), 'type', 'veth', 'peer', 'name', nic.inner, 'mtu', String(nic.mtu), 'netns', ns]);
  }
  await runTool(IP, ['link', 'set', nic.host, 'master', nic.bridge, 'up']);
  await configureInside(ns, [nic]);
}

/**
 * Inside namespace `ns`: lo and each NIC up with its MAC, address and default route, in one
 * `ip -batch`. Networks are IPv4-only: a NIC gets no IPv6 link-local address (`addrgenmode none`,
 * set before it is up), so it sends no DAD or router solicitations, as a VM's NICs (IPv6 off) and
 * Docker's on IPv4-only networks; lo keeps ::1.
 */
async function configureInside(ns: string, nics: VethNic[]): Promise<void> {
  const lines = [
    'link set lo up',
    ...nics.flatMap((n) => [
      `link set ${n.inner} addrgenmode none`,
      `link set ${n.inner} address ${n.mac} up`,
      `addr replace ${n.cidr} dev ${n.inner}`,
      ...(n.gateway ? [`route replace default via ${n.gateway} dev ${n.inner}`] : []),
    ]),
  ];
  await runTool(IP, ['-n', ns, '-batch', '-'], lines.join('\n') + '\n');
}

export function setSysctl(key: string, value: string): void {
  const file = `/proc/sys/${key}`;
  try {
    if (readFileSync(file, 'utf8').trim() !== value) writeFileSync(file, value);
  } catch {
    // not fatal: the feature that needs it says so when it fails
  }
}

/** IPv4 subnets routed on the host (any interface): a new network must not overlap them. */
export async function hostRoutes(): Promise<string[]> {
  const out = await runTool(IP, ['-4', '-o', 'route', 'show', 'table', 'all']).catch(() => '');
  return out.split('\n').map((l) => l.split(' ')[0] === 'local' || l.split(' ')[0] === 'broadcast' ? l.split(' ')[1] : l.split(' ')[0]).filter((d): d is string => !!d && /^\d/.test(d));
}

/**
 * A fresh namespace `ns` with a veth pair per NIC from its bridge, all addressed and up: one
 * `ip -batch` on the host side and one inside the namespace (each `ip` is a process start, ~5 ms
 * here, on the path of every process-isolated `run`). For a namespace that already exists (a
 * restart after a crash), use ensureNetns and ensureVeth, which repair what is there.
 */
export async function createNetnsWithVeths(ns: string, nics: VethNic[]): Promise<void> {
  const host = [
    `netns add ${ns}`,
    ...nics.map((n) => `link add ${n.host} mtu ${n.mtu} master ${n.bridge} up type veth peer name ${n.inner} mtu ${n.mtu} netns ${ns}`),
  ];
  await runTool(IP, ['-batch', '-'], host.join('\n') + '\n');
  await configureInside(ns, nics);
}

/** Delete these links (those that exist) and the namespace `ns` in one `ip -batch -force`. */
export async function deleteLinksAndNetns(links: string[], ns: string): Promise<void> {
  for (const l of links) rmSync(readyMark(l), { force: true });
  const lines = [...links.filter(linkExists).map((l) => `link del ${l}`), ...(existsSync(netnsPath(ns)) ? [`netns del ${ns}`] : [])];
  if (lines.length) await tryTool(IP, ['-force', '-batch', '-'], lines.join('\n') + '\n');
}
