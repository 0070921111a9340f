/**
 * nestbox's packet rules, in nftables tables of their own (one pair per state root, never
 * touching anyone else's tables): the whole ruleset of a root is rendered from its state and
 * replaced in one `nft -f` transaction, so rules never drift from the networks and ports that
 * exist. With nothing to filter, the tables are deleted.
 *
 * `inet nestbox_<root>` filters:
 * - forward: replies pass; published (DNATed) connections pass; a network talks to itself;
 *   an internal network talks to nothing else; traffic between a nestbox bridge of this root
 *   and any other nestbox bridge is dropped (the other networks of this root, and other roots').
 * - input: from a container to the host only its network's DNS (udp/tcp 53 on the gateway), echo
 *   requests to the gateway (a container can ping it, as with Docker) and replies; everything else
 *   addressed to the host (its eth0 address, 127.0.0.1 via the gateway, the API socket's TCP port)
 *   is dropped.
 * `ip nestbox_nat_<root>`: DNAT of published ports (prerouting for other hosts and containers,
 *   output for the host itself), masquerade of each non-internal subnet leaving through a
 *   non-nestbox interface, and of DNATed connections that would otherwise return the wrong way
 *   (from the host's 127.0.0.1, or hairpin from the same network).
 */
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import { runTool } from './run.js';

/** What was last applied per root (tmpfs: gone with the tables at reboot). */
const APPLIED_DIR = process.env.NESTBOX_NFT_CACHE ?? '/run/nestbox/rules';

const NFT = process.env.NESTBOX_NFT ?? 'nft';

export interface RuleNetwork {
  bridge: string;
  subnet: string;
  gateway: string;
  internal: boolean;
}

export interface RulePort {
  proto: 'tcp' | 'udp';
  /** Host address the port is published on (absent: every address of the host). */
  hostIp?: string;
  hostPort: number;
  ip: string;
  port: number;
}

export interface RuleSet {
  networks: RuleNetwork[];
  ports: RulePort[];
}

export function tableNames(root: string): { filter: string; nat: string } {
  const h = createHash('sha256').update(root).digest('hex').slice(0, 8);
  return { filter: `nestbox_${h}`, nat: `nestbox_nat_${h}` };
}

const q = (s: string) => `"${s}"`;

export function renderRules(root: string, rs: RuleSet): string {
  const t = tableNames(root);
  const lines = [`table inet ${t.filter} {}`, `delete table inet ${t.filter}`, `table ip ${t.nat} {}`, `delete table ip ${t.nat}`];
  if (rs.networks.length === 0 && rs.ports.length === 0) return lines.join('\n') + '\n';
  const mine = `{ ${rs.networks.map((n) => q(n.bridge)).join(', ')} }`;
  const fwd = ['ct state established,related accept', 'ct status dnat accept'];
  for (const n of rs.networks) fwd.push(`iifname ${q(n.bridge)} oifname ${q(n.bridge)} accept`);
  for (const n of rs.networks.filter((x) => x.internal)) fwd.push(`iifname ${q(n.bridge)} drop`, `oifname ${q(n.bridge)} drop`);
  if (rs.networks.length) fwd.push(`iifname ${mine} oifname "nbr-*" drop`, `iifname "nbr-*" oifname ${mine} drop`);
  const input = [`iifname ${mine} ct state established,related accept`];
  for (const n of rs.networks) {
    for (const proto of ['udp', 'tcp']) input.push(`iifname ${q(n.bridge)} ip daddr ${n.gateway} ${proto} dport 53 accept`);
    input.push(`iifname ${q(n.bridge)} ip daddr ${n.gateway} icmp type echo-request accept`);
  }
  input.push(`iifname ${mine} drop`);
  const dnat = rs.ports.map((p) => `${p.hostIp ? `ip daddr ${p.hostIp}` : 'fib daddr type local'} ${p.proto} dport ${p.hostPort} dnat to ${p.ip}:${p.port}`);
  const post: string[] = [];
  for (const n of rs.networks) {
    if (!n.internal) post.push(`ip saddr ${n.subnet} oifname != "nbr-*" masquerade`);
    post.push(`oifname ${q(n.bridge)} ct status dnat ip saddr ${n.subnet} masquerade`);
  }
  if (rs.networks.length) post.push(`oifname ${mine} ct status dnat ip saddr 127.0.0.0/8 masquerade`);
  const chain = (name: string, hook: string, prio: string, rules: string[]) =>
    [`  chain ${name} {`, `    type ${hook.startsWith('nat') ? 'nat' : 'filter'} hook ${hook.replace(/^nat-/, '')} priority ${prio}; policy accept;`, ...rules.map((r) => `    ${r}`), '  }'].join('\n');
  lines.push(`table inet ${t.filter} {`, chain('forward', 'forward', 'filter - 1', fwd), rs.networks.length ? chain('input', 'input', 'filter - 1', input) : '', '}');
  lines.push(
    `table ip ${t.nat} {`,
    chain('prerouting', 'nat-prerouting', 'dstnat', dnat),
    chain('output', 'nat-output', '-100', dnat),
    chain('postrouting', 'nat-postrouting', 'srcnat', post),
    '}',
  );
  return lines.filter(Boolean).join('\n') + '\n';
}

/**
 * Replace the root's tables with `rs` in one transaction — unless exactly this ruleset was the
 * last one applied for the root (most container starts change no rule; `nft` costs tens of ms).
 */
export async function applyRules(root: string, rs: RuleSet): Promise<void> {
  const text = renderRules(root, rs);
  const applied = path.join(APPLIED_DIR, `${tableNames(root).filter}.nft`);
  const last = await fs.readFile(applied, 'utf8').catch(() => undefined);
  if (last === text) return;
  const empty = rs.networks.length === 0 && rs.ports.length === 0;
  // nothing to filter and nothing applied since boot: there are no tables to delete
  if (empty && last === undefined) return;
  await fs.rm(applied, { force: true });
  await runTool(NFT, ['-f', '-'], text);
  // an empty ruleset leaves no mark behind: a deleted root must not leave files in /run
  if (empty) return;
  await fs.mkdir(APPLIED_DIR, { recursive: true, mode: 0o700 });
  await fs.writeFile(applied, text, { mode: 0o600 });
}
