/**
 * What a starting sandbox gets from its networks: its NICs (host device, bridge, MAC, address,
 * default route on the first), its resolvers and /etc/hosts lines. The VM backend turns it into
 * QEMU taps and RUN's NET fields, the process backend into a namespace with veth pairs.
 */
export interface SandboxNic {
  /** Host device: a tap (VM) or the host end of a veth pair (process). */
  dev: string;
  /** Bridge the device is attached to (absent: a VM's unattached NIC for `--network none`). */
  bridge?: string;
  mac: string;
  ip: string;
  prefix: number;
  /** Set on the first NIC only: the default route. */
  gateway?: string;
  mtu: number;
}

export interface SandboxNet {
  /** In NIC order (eth0, eth1…); empty for `--network none`. */
  nics: SandboxNic[];
  /** Resolvers for /etc/resolv.conf (empty: leave the image's). */
  dns: string[];
  /** Extra /etc/hosts lines (`IP<TAB>names`): the container's own address and name. */
  hosts: string[];
  /** A VM with no network: the tap behind the NIC every VM has (a tap on no bridge). */
  idleTap?: string;
  /** Process isolation: the network namespace runc joins (absent: a fresh empty one). */
  netns?: string;
}

/** The MAC every VM template's NIC is saved with; a restored guest sets its own at RUN. */
export const TEMPLATE_MAC = '02:42:00:00:00:00';

/** MTU of bridges, taps and veths (no encapsulation: the host's own). */
export const NETWORK_MTU = 1500;

/**
 * RUN's NET fields (docs/guest-protocol.md): `link MAC IP/PREFIX GATEWAY MTU` per NIC in
 * order, `dns IP`, `host IP NAMES`, tab-separated.
 */
export function guestNetFields(net: SandboxNet): string[] {
  return [
    ...net.nics.map((n) => ['link', n.mac, `${n.ip}/${n.prefix}`, n.gateway ?? '', String(n.mtu)].join('\t')),
    ...net.dns.map((d) => `dns\t${d}`),
    ...net.hosts.map((h) => `host\t${h}`),
  ];
}

/** The resolv.conf and hosts files of a process container (bind-mounted into it). */
export function resolvConf(net: SandboxNet): string {
  return net.dns.map((d) => `nameserver ${d}\n`).join('') + (net.dns.length ? 'options ndots:0\n' : '');
}
