/** `/networks` routes of the Docker API, and the network parts of `POST /containers/create`. */
import type { CreateOptions } from '../../core/create-spec.js';
import type { NetworkRequest } from '../../core/network-attach.js';
import { networkDocument } from '../../core/network-inspect.js';
import type { PortSpec } from '../../core/network-ports.js';
import { parseJsonObject } from '../body.js';
import { ApiError } from '../http-error.js';
import type { ApiRequest } from '../router.js';
import type { DockerContext } from './context.js';

/** `GET /networks` */
export async function listNetworks(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const nets = ctx.engine.networks;
  req.reply.json(200, await Promise.all((await nets.store.list()).map((n) => networkDocument(nets, n))));
}

/** `GET /networks/{id}` */
export async function inspectNetwork(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const nets = ctx.engine.networks;
  req.reply.json(200, await networkDocument(nets, await nets.store.get(req.params.id!)));
}

/** `POST /networks/create` {Name, Driver, Internal, IPAM: {Config: [{Subnet}]}, Labels} */
export async function createNetwork(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const body = parseJsonObject(req.body);
  if (typeof body.Name !== 'string' || !body.Name) throw new ApiError(400, 'network name is required (Name)');
  if (body.Driver !== undefined && body.Driver !== '' && body.Driver !== 'bridge') throw new ApiError(400, `network driver "${String(body.Driver)}" is not supported: use bridge`);
  const ipam = (body.IPAM ?? {}) as { Config?: { Subnet?: unknown }[] };
  const subnet = Array.isArray(ipam.Config) ? ipam.Config[0]?.Subnet : undefined;
  if (subnet !== undefined && typeof subnet !== 'string') throw new ApiError(400, 'invalid IPAM.Config[0].Subnet: expected a string');
  const labels = body.Labels && typeof body.Labels === 'object' ? (body.Labels as Record<string, string>) : {};
  const n = await ctx.engine.networks.store.create(body.Name, { ...(subnet ? { subnet } : {}), internal: body.Internal === true, labels });
  req.reply.json(201, { Id: n.id, Warning: '' });
}

/** `DELETE /networks/{id}`: 409 while containers are attached. */
export async function removeNetwork(ctx: DockerContext, req: ApiRequest): Promise<void> {
  await ctx.engine.networks.removeNetwork(req.params.id!);
  req.reply.empty(204);
}

/** `POST /networks/prune` */
export async function pruneNetworks(ctx: DockerContext, req: ApiRequest): Promise<void> {
  req.reply.json(200, { NetworksDeleted: await ctx.engine.networks.prune() });
}

/** `POST /networks/{id}/connect` {Container, EndpointConfig: {IPAMConfig: {IPv4Address}, Aliases}} */
export async function connectNetwork(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const body = parseJsonObject(req.body);
  const c = await ctx.engine.inspect(containerOf(body));
  const ep = endpointRequest(req.params.id!, body.EndpointConfig);
  await ctx.engine.networks.connect(c, req.params.id!, ep, isUp(c.state.status));
  req.reply.empty(200);
}

/** `POST /networks/{id}/disconnect` {Container, Force} */
export async function disconnectNetwork(ctx: DockerContext, req: ApiRequest): Promise<void> {
  const body = parseJsonObject(req.body);
  const c = await ctx.engine.inspect(containerOf(body));
  await ctx.engine.networks.disconnect(c, req.params.id!, isUp(c.state.status));
  req.reply.empty(200);
}

const isUp = (s: string) => s === 'running' || s === 'paused';

function containerOf(body: Record<string, unknown>): string {
  if (typeof body.Container !== 'string' || !body.Container) throw new ApiError(400, 'Container is required');
  return body.Container;
}

function endpointRequest(name: string, v: unknown): NetworkRequest {
  const ep = (v && typeof v === 'object' ? v : {}) as { IPAMConfig?: { IPv4Address?: unknown }; Aliases?: unknown };
  const ip = ep.IPAMConfig?.IPv4Address;
  const aliases = Array.isArray(ep.Aliases) ? ep.Aliases.filter((a): a is string => typeof a === 'string') : [];
  return { name, ...(typeof ip === 'string' && ip ? { ip } : {}), ...(aliases.length ? { aliases } : {}) };
}

/**
 * HostConfig.NetworkMode (`default`/`bridge`, `none`, a network), NetworkingConfig.EndpointsConfig
 * (address and aliases; more networks), HostConfig.PortBindings, PublishAllPorts and Dns.
 */
export function networkOptionsOf(body: Record<string, unknown>, hc: Record<string, unknown>): Pick<CreateOptions, 'networks' | 'dns' | 'ports' | 'publishAll'> {
  const mode = typeof hc.NetworkMode === 'string' && hc.NetworkMode && hc.NetworkMode !== 'default' ? hc.NetworkMode : 'bridge';
  if (mode === 'host' || mode.startsWith('container:')) throw new ApiError(400, `NetworkMode ${mode} is not supported: a nestbox sandbox has its own network stack`);
  const nc = (body.NetworkingConfig ?? {}) as { EndpointsConfig?: Record<string, unknown> };
  const eps = nc.EndpointsConfig && typeof nc.EndpointsConfig === 'object' ? nc.EndpointsConfig : {};
  // the docker CLI names the default network `default` in EndpointsConfig too
  const key = (k: string) => (k === 'default' ? 'bridge' : k);
  const byName = new Map(Object.entries(eps).map(([k, v]) => [key(k), v]));
  const names = [mode, ...[...byName.keys()].filter((k) => k !== mode)];
  const networks = names.map((n) => endpointRequest(n, byName.get(n)));
  const ports: PortSpec[] = [];
  const bindings = (hc.PortBindings ?? {}) as Record<string, unknown>;
  for (const [key, list] of Object.entries(bindings)) {
    const [p, proto = 'tcp'] = key.split('/');
    const containerPort = Number(p);
    if (!Number.isInteger(containerPort) || containerPort < 1 || containerPort > 65535 || (proto !== 'tcp' && proto !== 'udp')) throw new ApiError(400, `invalid PortBindings key "${key}": use PORT/tcp or PORT/udp`);
    for (const b of Array.isArray(list) && list.length ? list : [{}]) {
      const { HostIp, HostPort } = (b ?? {}) as { HostIp?: unknown; HostPort?: unknown };
      const hostPort = typeof HostPort === 'string' && HostPort ? Number(HostPort) : undefined;
      if (hostPort !== undefined && !(Number.isInteger(hostPort) && hostPort > 0 && hostPort < 65536)) throw new ApiError(400, `invalid HostPort "${String(HostPort)}"`);
      ports.push({ containerPort, proto, ...(typeof HostIp === 'string' && HostIp && HostIp !== '0.0.0.0' ? { hostIp: HostIp } : {}), ...(hostPort ? { hostPort } : {}) });
    }
  }
  const publishAll = hc.PublishAllPorts === true;
  if (publishAll && body.ExposedPorts && typeof body.ExposedPorts === 'object') {
    for (const key of Object.keys(body.ExposedPorts)) {
      const [p, proto = 'tcp'] = key.split('/');
      const n = Number(p);
      if (Number.isInteger(n) && (proto === 'tcp' || proto === 'udp') && !ports.some((x) => x.containerPort === n && x.proto === proto)) ports.push({ containerPort: n, proto });
    }
  }
  const dns = Array.isArray(hc.Dns) ? hc.Dns.filter((d): d is string => typeof d === 'string') : [];
  return {
    networks: mode === 'bridge' && names.length === 1 && !networks[0]!.ip && !networks[0]!.aliases ? [] : networks,
    ...(dns.length ? { dns } : {}),
    ...(ports.length ? { ports } : {}),
    ...(publishAll ? { publishAll } : {}),
  };
}
