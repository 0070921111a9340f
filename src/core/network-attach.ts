/**
 * The link between containers and networks. A container is attached at create (an address
 * claimed on each network, ports claimed), plugged in at each start (bridge, DNS, rules and its
 * own tap or netns + veth made or repaired), and detached at rm (devices, address, DNS entry,
 * port rules removed). A user network's host side — its bridge, dnsmasq and rules — exists while
 * it has endpoints and is taken down with the last one. The default network's stays up once made
 * (as docker0 does), so a run after a run does not set it up again; `network prune` takes it down
 * when it is idle, and a stale claim of a deleted root takes it down too (networks.ts).
 */
import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Container } from './container.js';
import { ConflictError, InvalidArgumentError } from './errors.js';
import { Lock } from './lock.js';
import { DEFAULT_NETWORK, NetworkStore, bridgeName, prefixOf, type Endpoint, type NetworkRecord } from './networks.js';
import { PortClaims, type PortBinding, type PortSpec } from './network-ports.js';
import { parseIp } from '../net/ipv4.js';
import { createNetnsWithVeths, deleteLink, deleteLinksAndNetns, ensureBridge, ensureNetns, ensureTap, ensureVeth, linkExists, netnsPath, type VethNic } from '../net/links.js';
import { applyRules } from '../net/nft.js';
import { stopDns, updateDns } from '../net/dnsmasq.js';
import { NETWORK_MTU, resolvConf, type SandboxNet, type SandboxNic } from '../net/sandbox-net.js';

export interface NetworkRequest {
  /** A network name or id; `none`; `bridge` (the default network). */
  name: string;
  ip?: string;
  aliases?: string[];
}

export interface NetworkCreateOptions {
  /** Absent: the default network. `[{ name: 'none' }]`: no network. */
  networks?: NetworkRequest[];
  dns?: string[];
  ports?: PortSpec[];
}

const id8 = (c: Container) => c.config.id.slice(0, 8);
export const tapName = (c: Container, i: number) => `nbt-${id8(c)}-${i}`;
export const vethName = (c: Container, i: number) => `nbv-${id8(c)}-${i}`;
export const netnsName = (c: Pick<Container, 'config'>) => `nb-${c.config.id.slice(0, 8)}`;

export class ContainerNetworks {
  readonly store: NetworkStore;
  readonly ports: PortClaims;

  constructor(private readonly root: string) {
    this.store = new NetworkStore(root);
    this.ports = new PortClaims(root);
  }

  /** Check a create's network flags before anything is claimed. */
  static check(opts: NetworkCreateOptions): void {
    const names = (opts.networks ?? []).map((n) => n.name);
    if (names.includes('none') && names.length > 1) throw new InvalidArgumentError('--network none cannot be combined with other networks');
    if (names.includes('none') && opts.ports?.length) throw new InvalidArgumentError('cannot publish ports (-p/-P) of a container with --network none');
    if (names.includes('host')) throw new InvalidArgumentError('--network host is not supported: a VM has its own kernel and network stack');
    for (const d of opts.dns ?? []) if (parseIp(d) === undefined) throw new InvalidArgumentError(`invalid --dns "${d}": use an IPv4 address`);
    if (new Set(names).size !== names.length) throw new InvalidArgumentError('a network is named twice');
  }

  /** Attach a new container: claim its addresses and ports, bring its networks up. Undone on failure. */
  async attach(c: { id: string; name: string }, opts: NetworkCreateOptions): Promise<void> {
    const reqs = opts.networks?.length ? opts.networks : [{ name: DEFAULT_NETWORK }];
    if (reqs[0]!.name === 'none') return;
    try {
      let first: Endpoint | undefined;
      for (const r of reqs) {
        const n = r.name === DEFAULT_NETWORK ? await this.store.ensureDefault() : await this.store.get(r.name);
        const ep = await this.withNetwork(n, () => this.store.attach(n, c, r));
        first ??= ep;
      }
      if (opts.ports?.length) await this.ports.claim(c.id, first!.ip, opts.ports);
      for (const { network } of await this.store.endpointsOf(c.id)) await this.networkUp(network);
      await this.syncRules();
    } catch (err) {
      await this.detachAll(c.id).catch(() => undefined);
      throw err;
    }
  }

  /** Make (or repair) what the container needs on the host for a start, and describe it for the backend. */
  async plugIn(c: Container): Promise<SandboxNet> {
    const eps = await this.store.endpointsOf(c.config.id);
    for (const { network } of eps) await this.networkUp(network);
    if (eps.length) await this.syncRules();
    const net = describeNet(c, eps);
    const { nics } = net;
    if (c.config.isolation === 'vm') {
      for (const nic of nics) await ensureTap(nic.dev, nic.bridge, nic.mtu);
      // --network none still has the template's NIC: a tap of its own, on no bridge
      if (nics.length) return net;
      await ensureTap(tapName(c, 0), undefined, NETWORK_MTU);
      return { ...net, idleTap: tapName(c, 0) };
    }
    if (!nics.length) return net;
    const ns = netnsName(c);
    const veths: VethNic[] = nics.map((nic, i) => ({ host: nic.dev, inner: `eth${i}`, bridge: nic.bridge!, mac: nic.mac, cidr: `${nic.ip}/${nic.prefix}`, ...(nic.gateway ? { gateway: nic.gateway } : {}), mtu: nic.mtu }));
    if (!existsSync(netnsPath(ns))) {
      await createNetnsWithVeths(ns, veths); // the usual case: two `ip` processes in all
    } else {
      // a namespace left by a crash: repair it device by device
      await ensureNetns(ns);
      for (const v of veths) await ensureVeth(ns, v);
    }
    await this.writeProcessFiles(c, net);
    return { ...net, netns: netnsPath(ns) };
  }

  /**
   * What `plugIn` returns for a VM, without touching the host: for a warm-pool sandbox, whose
   * devices, bridge and rules were made when the pool filled it.
   */
  async describe(c: Container): Promise<SandboxNet> {
    const net = describeNet(c, await this.store.endpointsOf(c.config.id));
    return net.nics.length || c.config.isolation !== 'vm' ? net : { ...net, idleTap: tapName(c, 0) };
  }

  /** A container got another name (a warm-pool sandbox adopted by a create): its endpoints and DNS follow. */
  async renamed(c: Container): Promise<void> {
    for (const { network } of await this.store.endpointsOf(c.config.id)) {
      if (await this.withNetwork(network, () => this.store.rename(network, c.config.id, c.config.name))) await this.networkUpdate(network);
    }
  }

  /** /etc/resolv.conf and /etc/hosts of a process container: rewritten in place (they are bind-mounted). */
  private async writeProcessFiles(c: Container, net: SandboxNet): Promise<void> {
    const hosts = `127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n${net.hosts.map((h) => `${h}\n`).join('') || `127.0.1.1\t${c.config.hostname}\n`}`;
    await fs.writeFile(path.join(c.dir, 'hosts'), hosts);
    await fs.writeFile(path.join(c.dir, 'resolv.conf'), resolvConf(net));
  }

  /** Remove everything of a removed container: devices, addresses, DNS entries, ports. */
  async remove(c: Container): Promise<void> {
    const links = Array.from({ length: 8 }, (_, i) => [tapName(c, i), vethName(c, i)]).flat();
    await deleteLinksAndNetns(links, netnsName(c));
    await this.detachAll(c.config.id);
  }

  private async detachAll(containerId: string): Promise<void> {
    const hadPorts = (await this.ports.of(containerId)).length > 0;
    await this.ports.release(containerId);
    const endpoints = await this.store.endpointsOf(containerId);
    for (const { network } of endpoints) {
      await this.withNetwork(network, () => this.store.detach(network, containerId));
      await this.networkUpdate(network);
    }
    // a container with no endpoint and no published port (--network none) changed no rule
    if (hadPorts || endpoints.length) await this.syncRules();
  }

  /** `network connect`: a process container may be running (a veth is added live); a VM must be stopped (its NICs are fixed at boot). */
  async connect(c: Container, ref: string, opts: { ip?: string; aliases?: string[] }, running: boolean): Promise<void> {
    if (c.config.networkMode === 'none') throw new ConflictError(`container ${c.config.name} has --network none: it cannot be connected to a network`, 'NETWORK_NONE');
    if (running && c.config.isolation === 'vm') {
      throw new ConflictError(`container ${c.config.name} is running: a VM's network devices are fixed at boot; stop it, connect, then start it`, 'CONTAINER_RUNNING');
    }
    const n = ref === DEFAULT_NETWORK ? await this.store.ensureDefault() : await this.store.get(ref);
    await this.withNetwork(n, () => this.store.attach(n, { id: c.config.id, name: c.config.name }, opts));
    try {
      await this.networkUp(n);
      await this.syncRules();
      if (running) await this.plugIn(c);
    } catch (err) {
      await this.withNetwork(n, () => this.store.detach(n, c.config.id));
      await this.networkUpdate(n);
      throw err;
    }
  }

  async disconnect(c: Container, ref: string, running: boolean): Promise<void> {
    const n = await this.store.get(ref);
    const eps = await this.store.endpointsOf(c.config.id);
    const at = eps.findIndex((e) => e.network.id === n.id);
    if (at < 0) throw new ConflictError(`container ${c.config.name} is not connected to network ${n.name}`, 'NOT_CONNECTED');
    if (running && c.config.isolation === 'vm') {
      throw new ConflictError(`container ${c.config.name} is running: a VM's network devices are fixed at boot; stop it first`, 'CONTAINER_RUNNING');
    }
    if ((await this.ports.of(c.config.id)).length && at === 0) {
      throw new ConflictError(`container ${c.config.name} publishes ports on network ${n.name}: remove the container to unpublish them`, 'PORTS_PUBLISHED');
    }
    // NIC order changes: devices are renumbered at the next start
    for (let i = 0; i < 8; i++) await deleteLink(c.config.isolation === 'vm' ? tapName(c, i) : vethName(c, i));
    await this.withNetwork(n, () => this.store.detach(n, c.config.id));
    await this.networkUpdate(n);
    await this.syncRules();
    if (running) await this.plugIn(c);
  }

  /** `network rm`: refused while containers are attached. */
  async removeNetwork(ref: string): Promise<NetworkRecord> {
    const n = await this.store.get(ref);
    return this.withNetwork(n, async () => {
      const eps = await this.store.endpoints(n);
      if (eps.length) {
        throw new ConflictError(`network ${n.name} has active endpoints (${eps.map((e) => e.containerName).join(', ')}): remove or disconnect them first`, 'NETWORK_IN_USE');
      }
      await this.networkDown(n);
      await this.store.remove(n);
      await this.syncRules();
      return n;
    });
  }

  /** `network prune`: networks without endpoints; the default one stays, but an idle one's bridge and DNS are taken down. */
  async prune(): Promise<string[]> {
    const removed: string[] = [];
    for (const n of await this.store.list()) {
      if ((await this.store.endpoints(n)).length) continue;
      if (n.name === DEFAULT_NETWORK) {
        await this.withNetwork(n, async () => {
          if (!(await this.store.endpoints(n)).length) await this.networkDown(n);
        });
        continue;
      }
      await this.removeNetwork(n.id).then(() => removed.push(n.name), () => undefined);
    }
    await this.syncRules();
    return removed;
  }

  private async withNetwork<T>(n: NetworkRecord, fn: () => Promise<T>): Promise<T> {
    const lock = await Lock.acquire(this.root, `network:${n.id}`, 60_000);
    try {
      return await fn();
    } finally {
      await lock.release();
    }
  }

  /** Bridge and DNS of a network with endpoints (made or repaired), with its hosts file current. */
  private async networkUp(n: NetworkRecord): Promise<void> {
    await this.withNetwork(n, async () => {
      await ensureBridge(bridgeName(n), `${n.gateway}/${prefixOf(n)}`, NETWORK_MTU);
      await updateDns({ id: n.id, bridge: bridgeName(n), gateway: n.gateway }, hostsLines(await this.store.endpoints(n)));
    });
  }

  /** After an endpoint left: rewrite DNS, or take a user network's host side down when it was the last. */
  private async networkUpdate(n: NetworkRecord): Promise<void> {
    await this.withNetwork(n, async () => {
      const eps = await this.store.endpoints(n);
      if (eps.length || n.name === DEFAULT_NETWORK) await updateDns({ id: n.id, bridge: bridgeName(n), gateway: n.gateway }, hostsLines(eps));
      else await this.networkDown(n);
    });
  }

  private async networkDown(n: NetworkRecord): Promise<void> {
    await stopDns(n);
    await deleteLink(bridgeName(n));
  }

  /** Render this root's nft tables from its networks that are up and its published ports. */
  async syncRules(): Promise<void> {
    const lock = await Lock.acquire(this.root, 'network-rules', 60_000);
    try {
      const live: NetworkRecord[] = [];
      for (const n of await this.store.list()) if ((await this.store.endpoints(n)).length || linkExists(bridgeName(n))) live.push(n);
      const ports = await this.ports.list();
      await applyRules(this.root, {
        networks: live.map((n) => ({ bridge: bridgeName(n), subnet: n.subnet, gateway: n.gateway, internal: n.internal })),
        ports: ports.map((p) => ({ proto: p.proto, hostPort: p.hostPort, ip: p.ip, port: p.containerPort, ...(p.hostIp ? { hostIp: p.hostIp } : {}) })),
      });
    } finally {
      await lock.release();
    }
  }

  async portsOf(containerId: string): Promise<PortBinding[]> {
    return this.ports.of(containerId);
  }

  endpointsOf(containerId: string) {
    return this.store.endpointsOf(containerId);
  }
}

/** dnsmasq hosts lines: address, container name, short id and aliases. */
/** A container's NICs, resolvers and hosts lines on its endpoints (`plugIn`, `describe`). */
function describeNet(c: Container, eps: { network: NetworkRecord; endpoint: Endpoint }[]): SandboxNet {
  const nics: SandboxNic[] = eps.map(({ network, endpoint }, i) => ({
    dev: c.config.isolation === 'vm' ? tapName(c, i) : vethName(c, i),
    bridge: bridgeName(network),
    mac: endpoint.mac,
    ip: endpoint.ip,
    prefix: prefixOf(network),
    ...(i === 0 ? { gateway: network.gateway } : {}),
    mtu: NETWORK_MTU,
  }));
  const dns = eps.length ? (c.config.dns?.length ? c.config.dns : [eps[0]!.network.gateway]) : (c.config.dns ?? []);
  const hosts = eps.length ? [`${eps[0]!.endpoint.ip}\t${c.config.hostname}`] : [];
  return { nics, dns, hosts };
}

function hostsLines(eps: Endpoint[]): string[] {
  return eps.map((e) => [e.ip, e.containerName, e.containerId.slice(0, 12), ...e.aliases].join(' '));
}

