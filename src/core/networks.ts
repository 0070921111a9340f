/**
 * Networks: state under `<root>/networks/`. Each network is `<id>/network.json` (name, subnet,
 * gateway, internal), its name claimed by an O_EXCL file `names/<name>`, and its endpoints:
 * `<id>/ips/<ip>` claimed with O_EXCL (two CLIs at once never hand out one address) and
 * `<id>/endpoints/<container id>.json` (address, MAC, aliases). Subnets come from a private pool
 * and are claimed host-wide (`/run/nestbox/subnets/`), so two state roots never share one; a
 * subnet already routed on the host is skipped. Host devices and rules live in src/net.
 */
import { promises as fs, existsSync } from 'node:fs';
import * as path from 'node:path';
import { randomBytes } from 'node:crypto';
import { readJson, writeJsonAtomic } from './atomic.js';
import { withLock } from './lock.js';
import { ConflictError, InvalidArgumentError, NotFoundError } from './errors.js';
import { contains, formatIp, formatSubnet, gatewayOf, lastHost, macFor, overlaps, parseIp, parseSubnet, type Subnet } from '../net/ipv4.js';
import { deleteLink, hostRoutes, linkExists } from '../net/links.js';
import { stopDns } from '../net/dnsmasq.js';

export const DEFAULT_NETWORK = 'bridge';
const POOL = parseSubnet('10.89.0.0/16');
const SUBNET_CLAIMS = process.env.NESTBOX_SUBNET_CLAIMS ?? '/run/nestbox/subnets';

export interface NetworkRecord {
  id: string;
  name: string;
  created: string;
  subnet: string;
  gateway: string;
  internal: boolean;
  labels: Record<string, string>;
}

export interface Endpoint {
  containerId: string;
  containerName: string;
  network: string;
  ip: string;
  mac: string;
  aliases: string[];
  /** Order of attachment: the first network of a container carries its default route. */
  attached: string;
}

/** Bridge device of a network (IFNAMSIZ: 15). */
export const bridgeName = (n: Pick<NetworkRecord, 'id'>) => `nbr-${n.id.slice(0, 8)}`;
export const prefixOf = (n: Pick<NetworkRecord, 'subnet'>) => Number(n.subnet.split('/')[1]);

export interface NetworkOptions {
  subnet?: string;
  internal?: boolean;
  labels?: Record<string, string>;
}

export function checkNetworkName(name: string): void {
  if (!/^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,127}$/.test(name)) {
    throw new InvalidArgumentError(`invalid network name "${name}": use letters, digits, _ . - (starting with a letter or digit)`);
  }
}

export class NetworkStore {
  readonly dir: string;

  constructor(readonly root: string) {
    this.dir = path.join(root, 'networks');
  }

  private names = () => path.join(this.dir, 'names');
  netDir = (id: string) => path.join(this.dir, id);

  async create(name: string, opts: NetworkOptions = {}): Promise<NetworkRecord> {
    checkNetworkName(name);
    if (name === 'none' || name === 'host') throw new InvalidArgumentError(`network name "${name}" is reserved`);
    return withLock(this.root, `network ${name}`, () => this.createLocked(name, opts));
  }

  /**
   * Under the name's lock: every creator holds it from claiming the name to writing the record, so
   * a name without a record seen under the lock was left by a creator that died in between.
   */
  private async createLocked(name: string, opts: NetworkOptions): Promise<NetworkRecord> {
    await fs.mkdir(this.names(), { recursive: true, mode: 0o700 });
    await this.dropHalfMade(name);
    const id = randomBytes(32).toString('hex');
    try {
      await fs.writeFile(path.join(this.names(), name), id, { flag: 'wx', mode: 0o600 });
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'EEXIST') throw new ConflictError(`network with name ${name} already exists`, 'NETWORK_EXISTS');
      throw err;
    }
    try {
      const subnet = await this.claimSubnet(id, opts.subnet ? parseSubnet(opts.subnet) : undefined);
      const rec: NetworkRecord = {
        id,
        name,
        created: new Date().toISOString(),
        subnet: formatSubnet(subnet),
        gateway: formatIp(gatewayOf(subnet)),
        internal: opts.internal ?? false,
        labels: opts.labels ?? {},
      };
      for (const d of ['ips', 'endpoints']) await fs.mkdir(path.join(this.netDir(id), d), { recursive: true, mode: 0o700 });
      await writeJsonAtomic(path.join(this.netDir(id), 'network.json'), rec, 0o600);
      return rec;
    } catch (err) {
      await fs.rm(path.join(this.names(), name), { force: true });
      await fs.rm(this.netDir(id), { recursive: true, force: true });
      throw err;
    }
  }

  /**
   * The default network (`bridge`), made on first use. First uses at once (several CLIs, or one
   * engine starting many containers) find it or make it under the name's lock, so exactly one
   * makes it and the others get its record.
   */
  async ensureDefault(): Promise<NetworkRecord> {
    const found = await this.find(DEFAULT_NETWORK);
    if (found) return found;
    return withLock(this.root, `network ${DEFAULT_NETWORK}`, async () => (await this.find(DEFAULT_NETWORK)) ?? this.createLocked(DEFAULT_NETWORK, {}));
  }

  /** A claimed name whose record was never written (its creator died): free the name. */
  private async dropHalfMade(name: string): Promise<void> {
    const id = (await fs.readFile(path.join(this.names(), name), 'utf8').catch(() => undefined))?.trim();
    if (id === undefined || (/^[0-9a-f]{64}$/.test(id) && existsSync(path.join(this.netDir(id), 'network.json')))) return;
    if (/^[0-9a-f]{64}$/.test(id)) await fs.rm(this.netDir(id), { recursive: true, force: true });
    await fs.rm(path.join(this.names(), name), { force: true });
  }

  /** By name, full id or unique id prefix. */
  async find(ref: string): Promise<NetworkRecord | undefined> {
    if (/^[a-zA-Z0-9][a-zA-Z0-9_.-]*$/.test(ref)) {
      const id = await fs.readFile(path.join(this.names(), ref), 'utf8').catch(() => undefined);
      if (id) {
        const rec = await readJson<NetworkRecord>(path.join(this.netDir(id), 'network.json'));
        if (rec) return rec;
      }
    }
    if (/^[0-9a-f]{1,64}$/.test(ref)) {
      const ids = (await this.ids()).filter((i) => i.startsWith(ref));
      if (ids.length > 1) throw new InvalidArgumentError(`network id prefix ${ref} is ambiguous: give more digits or the name`);
      if (ids.length === 1) return readJson<NetworkRecord>(path.join(this.netDir(ids[0]!), 'network.json'));
    }
    return undefined;
  }

  async get(ref: string): Promise<NetworkRecord> {
    const n = await this.find(ref);
    if (!n) throw new NotFoundError('network', ref, 'see `nestbox network ls`');
    return n;
  }

  private async ids(): Promise<string[]> {
    return (await fs.readdir(this.dir).catch(() => [] as string[])).filter((d) => /^[0-9a-f]{64}$/.test(d));
  }

  async list(): Promise<NetworkRecord[]> {
    const recs = await Promise.all((await this.ids()).map((id) => readJson<NetworkRecord>(path.join(this.netDir(id), 'network.json')).catch(() => undefined)));
    return recs.filter((r): r is NetworkRecord => !!r).sort((a, b) => a.created.localeCompare(b.created));
  }

  /** Remove the record (the caller checked it has no endpoints and took its host side down). */
  async remove(n: NetworkRecord): Promise<void> {
    const trash = path.join(this.dir, `.rm-${n.id}`);
    await fs.rename(this.netDir(n.id), trash).catch(() => undefined);
    await fs.rm(path.join(this.names(), n.name), { force: true });
    await fs.rm(trash, { recursive: true, force: true });
    await fs.rm(path.join(SUBNET_CLAIMS, n.subnet.replace('/', '_')), { force: true });
  }

  async endpoints(n: NetworkRecord): Promise<Endpoint[]> {
    const dir = path.join(this.netDir(n.id), 'endpoints');
    const names = (await fs.readdir(dir).catch(() => [] as string[])).filter((f) => f.endsWith('.json'));
    const eps = await Promise.all(names.map((f) => readJson<Endpoint>(path.join(dir, f)).catch(() => undefined)));
    return eps.filter((e): e is Endpoint => !!e).sort((a, b) => a.attached.localeCompare(b.attached));
  }

  async endpoint(n: NetworkRecord, containerId: string): Promise<Endpoint | undefined> {
    return readJson<Endpoint>(path.join(this.netDir(n.id), 'endpoints', `${containerId}.json`));
  }

  /** Claim an address (`ip`, or the first free one) for a container and record its endpoint. */
  async attach(n: NetworkRecord, c: { id: string; name: string }, opts: { ip?: string; aliases?: string[] } = {}): Promise<Endpoint> {
    if (await this.endpoint(n, c.id)) throw new ConflictError(`container ${c.name} is already attached to network ${n.name}`, 'ALREADY_CONNECTED');
    const subnet = parseSubnet(n.subnet);
    const ipsDir = path.join(this.netDir(n.id), 'ips');
    let ip: number | undefined;
    if (opts.ip) {
      const want = parseIp(opts.ip);
      if (want === undefined) throw new InvalidArgumentError(`invalid --ip "${opts.ip}": use an IPv4 address`);
      if (!contains(subnet, want) || want <= gatewayOf(subnet) || want > lastHost(subnet)) {
        throw new InvalidArgumentError(`--ip ${opts.ip} is not a free host address of network ${n.name} (${n.subnet}, gateway ${n.gateway})`);
      }
      if (!(await claimFile(path.join(ipsDir, formatIp(want)), c.id))) throw new ConflictError(`address ${opts.ip} is already in use on network ${n.name}`, 'IP_IN_USE');
      ip = want;
    } else {
      const taken = new Set(await fs.readdir(ipsDir).catch(() => [] as string[]));
      for (let a = gatewayOf(subnet) + 1; a <= lastHost(subnet) && ip === undefined; a++) {
        if (!taken.has(formatIp(a)) && (await claimFile(path.join(ipsDir, formatIp(a)), c.id))) ip = a;
      }
      if (ip === undefined) throw new ConflictError(`network ${n.name} (${n.subnet}) has no free address left`, 'NETWORK_FULL');
    }
    const ep: Endpoint = {
      containerId: c.id,
      containerName: c.name,
      network: n.id,
      ip: formatIp(ip),
      mac: macFor(ip),
      aliases: [...new Set(opts.aliases ?? [])],
      attached: `${new Date().toISOString()}-${process.hrtime.bigint()}`,
    };
    for (const a of ep.aliases) checkNetworkName(a);
    await writeJsonAtomic(path.join(this.netDir(n.id), 'endpoints', `${c.id}.json`), ep, 0o600);
    return ep;
  }

  /** Record a container's new name on its endpoint; false when it has none here or the name is the same. */
  async rename(n: NetworkRecord, containerId: string, name: string): Promise<boolean> {
    const ep = await this.endpoint(n, containerId);
    if (!ep || ep.containerName === name) return false;
    await writeJsonAtomic(path.join(this.netDir(n.id), 'endpoints', `${containerId}.json`), { ...ep, containerName: name }, 0o600);
    return true;
  }

  async detach(n: NetworkRecord, containerId: string): Promise<void> {
    const ep = await this.endpoint(n, containerId);
    await fs.rm(path.join(this.netDir(n.id), 'endpoints', `${containerId}.json`), { force: true });
    if (ep) await fs.rm(path.join(this.netDir(n.id), 'ips', ep.ip), { force: true });
  }

  /** Endpoints of one container on every network, in attachment order. */
  async endpointsOf(containerId: string): Promise<{ network: NetworkRecord; endpoint: Endpoint }[]> {
    const out: { network: NetworkRecord; endpoint: Endpoint }[] = [];
    for (const n of await this.list()) {
      const ep = await this.endpoint(n, containerId);
      if (ep) out.push({ network: n, endpoint: ep });
    }
    return out.sort((a, b) => a.endpoint.attached.localeCompare(b.endpoint.attached));
  }

  /** A /24 of the pool (or `want`) that no other network of any root and no host route has. */
  private async claimSubnet(id: string, want?: Subnet): Promise<Subnet> {
    await fs.mkdir(SUBNET_CLAIMS, { recursive: true, mode: 0o755 });
    const routed = (await hostRoutes()).flatMap((r) => {
      try {
        return [parseSubnet(r.includes('/') ? r : `${r}/32`, 'route')];
      } catch {
        return [];
      }
    });
    const claimed = await this.claimedSubnets();
    const free = (s: Subnet) => !routed.some((r) => overlaps(r, s)) && !claimed.some((c) => overlaps(c, s));
    const claim = async (s: Subnet) => claimFile(path.join(SUBNET_CLAIMS, formatSubnet(s).replace('/', '_')), `${this.root}\n${id}\n`);
    if (want) {
      if (!free(want) || !(await claim(want))) throw new ConflictError(`subnet ${formatSubnet(want)} overlaps a subnet already in use on this host (a network or a route)`, 'SUBNET_IN_USE');
      return want;
    }
    for (let i = 0; i < 256; i++) {
      const s = { base: POOL.base + i * 256, prefix: 24 };
      if (free(s) && (await claim(s))) return s;
    }
    throw new ConflictError(`no free subnet left in ${formatSubnet(POOL)}: remove unused networks (\`nestbox network prune\`) or give --subnet`, 'POOL_EXHAUSTED');
  }

  /**
   * Subnets claimed host-wide, dropping claims whose network is gone (its root deleted) together
   * with the bridge and dnsmasq such a network may have left running.
   */
  private async claimedSubnets(): Promise<Subnet[]> {
    const out: Subnet[] = [];
    for (const f of await fs.readdir(SUBNET_CLAIMS).catch(() => [] as string[])) {
      const file = path.join(SUBNET_CLAIMS, f);
      const [root, id] = (await fs.readFile(file, 'utf8').catch(() => '')).split('\n');
      const st = await fs.stat(file).catch(() => undefined);
      const stale = root && id && !existsSync(path.join(root, 'networks', id)) && st && Date.now() - st.mtimeMs > 60_000;
      if (stale) {
        // its state root was deleted without removing its containers: take down what was left
        await stopDns({ id }).catch(() => undefined);
        const bridge = bridgeName({ id });
        if (linkExists(bridge)) await deleteLink(bridge).catch(() => undefined);
        await fs.rm(file, { force: true });
        continue;
      }
      try {
        out.push(parseSubnet(f.replace('_', '/'), 'claim'));
      } catch {
        // not ours
      }
    }
    return out;
  }
}

async function claimFile(file: string, content: string): Promise<boolean> {
  try {
    await fs.writeFile(file, content, { flag: 'wx', mode: 0o644 });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST') return false;
    throw err;
  }
}
