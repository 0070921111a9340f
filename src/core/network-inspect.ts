/** Docker-shaped documents for networks (`network inspect`, `GET /networks`) and a container's NetworkSettings. */
import type { Container } from './container.js';
import type { ContainerNetworks } from './network-attach.js';
import type { PortBinding } from './network-ports.js';
import { bridgeName, prefixOf, type Endpoint, type NetworkRecord } from './networks.js';

export interface ContainerNetView {
  endpoints: { network: NetworkRecord; endpoint: Endpoint }[];
  ports: PortBinding[];
}

export async function networkView(nets: ContainerNetworks, c: Container): Promise<ContainerNetView> {
  return { endpoints: await nets.endpointsOf(c.config.id), ports: await nets.portsOf(c.config.id) };
}

export async function networkDocument(nets: ContainerNetworks, n: NetworkRecord): Promise<Record<string, unknown>> {
  const containers: Record<string, unknown> = {};
  for (const e of await nets.store.endpoints(n)) {
    containers[e.containerId] = { Name: e.containerName, EndpointID: endpointId(e), MacAddress: e.mac, IPv4Address: `${e.ip}/${prefixOf(n)}`, IPv6Address: '' };
  }
  return {
    Name: n.name,
    Id: n.id,
    Created: n.created,
    Scope: 'local',
    Driver: 'bridge',
    EnableIPv6: false,
    IPAM: { Driver: 'default', Options: {}, Config: [{ Subnet: n.subnet, Gateway: n.gateway }] },
    Internal: n.internal,
    Attachable: false,
    Ingress: false,
    ConfigFrom: { Network: '' },
    ConfigOnly: false,
    Containers: containers,
    Options: { 'com.docker.network.bridge.name': bridgeName(n) },
    Labels: n.labels,
  };
}

const endpointId = (e: Endpoint) => `${e.network.slice(0, 32)}${e.containerId.slice(0, 32)}`;

/** `"80/tcp": [{ HostIp, HostPort }]`, as docker's NetworkSettings.Ports and HostConfig.PortBindings. */
export function portMap(ports: PortBinding[]): Record<string, { HostIp: string; HostPort: string }[]> {
  const out: Record<string, { HostIp: string; HostPort: string }[]> = {};
  for (const p of ports) (out[`${p.containerPort}/${p.proto}`] ??= []).push({ HostIp: p.hostIp ?? '0.0.0.0', HostPort: String(p.hostPort) });
  return out;
}

export function networkSettings(view: ContainerNetView): Record<string, unknown> {
  const first = view.endpoints[0];
  const networks: Record<string, unknown> = {};
  for (const { network: n, endpoint: e } of view.endpoints) {
    networks[n.name] = {
      Aliases: e.aliases.length ? e.aliases : null,
      NetworkID: n.id,
      EndpointID: endpointId(e),
      Gateway: n.gateway,
      IPAddress: e.ip,
      IPPrefixLen: prefixOf(n),
      MacAddress: e.mac,
      IPv6Gateway: '',
      GlobalIPv6Address: '',
      GlobalIPv6PrefixLen: 0,
      DNSNames: [e.containerName, e.containerId.slice(0, 12), ...e.aliases],
    };
  }
  return {
    Bridge: first ? bridgeName(first.network) : '',
    SandboxID: '',
    Ports: portMap(view.ports),
    IPAddress: first?.endpoint.ip ?? '',
    IPPrefixLen: first ? prefixOf(first.network) : 0,
    Gateway: first?.network.gateway ?? '',
    MacAddress: first?.endpoint.mac ?? '',
    Networks: networks,
  };
}
