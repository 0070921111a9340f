/**
 * One small dnsmasq per network, on the bridge's gateway address only (`--bind-interfaces`): it
 * answers the network's container names and aliases from a hosts file nestbox rewrites (then
 * SIGHUP), and forwards other names to the host's own resolvers (/etc/resolv.conf). It drops to
 * `nobody`, so its files live in a world-readable runtime directory, not in the state root.
 */
import { promises as fs, readFileSync } from 'node:fs';
import * as path from 'node:path';
import { writeFileAtomic } from '../core/atomic.js';
import { isProcessAlive, killQuietly, waitProcessGone } from '../core/proc.js';
import { runTool } from './run.js';

const DNSMASQ = process.env.NESTBOX_DNSMASQ ?? 'dnsmasq';
const RUN_DIR = process.env.NESTBOX_DNS_DIR ?? '/run/nestbox/dns';

export interface DnsServer {
  /** Network id: names the runtime directory. */
  id: string;
  bridge: string;
  gateway: string;
}

const dirOf = (s: Pick<DnsServer, 'id'>) => path.join(RUN_DIR, s.id.slice(0, 16));

/** The running dnsmasq of `s`, if its pid file names a live dnsmasq serving this directory. */
export function dnsPid(s: Pick<DnsServer, 'id'>): number | undefined {
  const dir = dirOf(s);
  const pid = Number(readFileSafe(path.join(dir, 'pid')).trim());
  if (!pid || !isProcessAlive(pid, undefined)) return undefined;
  const cmdline = readFileSafe(`/proc/${pid}/cmdline`);
  return cmdline.includes(`${dir}/pid`) ? pid : undefined;
}

/** Write the hosts file (`IP name alias…` lines) and make dnsmasq read it; start dnsmasq if it is not running. */
export async function updateDns(s: DnsServer, lines: string[]): Promise<void> {
  const dir = dirOf(s);
  await fs.mkdir(dir, { recursive: true, mode: 0o755 });
  await fs.chmod(RUN_DIR, 0o755).catch(() => undefined);
  const hosts = lines.map((l) => `${l}\n`).join('');
  const pid = dnsPid(s);
  // a start that changes no name (a restart) leaves a running dnsmasq alone
  if (pid && readFileSafe(path.join(dir, 'hosts')) === hosts) return;
  await writeFileAtomic(path.join(dir, 'hosts'), hosts, 0o644);
  if (pid) return void killQuietly(pid, 'SIGHUP');
  await runTool(DNSMASQ, [
    '--conf-file=/dev/null',
    `--pid-file=${dir}/pid`,
    '--bind-interfaces',
    `--listen-address=${s.gateway}`,
    '--except-interface=lo',
    '--no-hosts',
    `--addn-hosts=${dir}/hosts`,
    '--resolv-file=/etc/resolv.conf',
    '--domain-needed',
    '--user=nobody',
    '--cache-size=150',
    '--log-facility=/dev/null',
  ]);
}

export async function stopDns(s: Pick<DnsServer, 'id'>): Promise<void> {
  const pid = dnsPid(s);
  if (pid) {
    killQuietly(pid, 'SIGTERM');
    if (!(await waitProcessGone(pid, undefined, 2000))) killQuietly(pid, 'SIGKILL');
  }
  await fs.rm(dirOf(s), { recursive: true, force: true });
}

function readFileSafe(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return '';
  }
}
