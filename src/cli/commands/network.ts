import type { Command } from 'commander';
import { collect, getEngine, out } from '../context.js';
import { table } from '../format.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { networkDocument } from '../../core/network-inspect.js';
import { eachRef } from '../each.js';

/** `network create|ls|inspect|rm|connect|disconnect|prune` (docs/networking.md). */
export function register(program: Command): void {
  const network = program.command('network').description('Manage networks (bridges containers talk over, by name)');

  network
    .command('create')
    .description('Create a network: a Linux bridge with its own subnet, NAT and DNS')
    .argument('<name>', 'network name')
    .option('--subnet <cidr>', 'IPv4 subnet, e.g. 10.89.7.0/24 (default: a free /24 of 10.89.0.0/16)')
    .option('--internal', 'no traffic in or out of the network except between its containers')
    .option('-d, --driver <driver>', 'bridge (the only driver)', 'bridge')
    .option('--label <key=value>', 'label', collect, [])
    .action(async (name: string, flags: { subnet?: string; internal?: boolean; driver: string; label: string[] }, cmd: Command) => {
      if (flags.driver !== 'bridge') throw new InvalidArgumentError(`network driver "${flags.driver}" is not supported: use bridge`);
      const engine = await getEngine(cmd);
      const n = await engine.networks.store.create(name, { ...(flags.subnet ? { subnet: flags.subnet } : {}), internal: flags.internal ?? false, labels: labels(flags.label) });
      out(n.id);
    });

  network
    .command('ls')
    .alias('list')
    .description('List networks')
    .option('-q, --quiet', 'only IDs')
    .option('--no-trunc', 'full IDs')
    .option('--format <format>', "'table' (default) or 'json'")
    .action(async (flags: { quiet?: boolean; trunc?: boolean; format?: string }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const list = await engine.networks.store.list();
      const id = (x: string) => (flags.trunc === false ? x : x.slice(0, 12));
      if (flags.quiet) return list.forEach((n) => out(id(n.id)));
      if (flags.format === 'json') return list.forEach((n) => out(JSON.stringify({ ID: id(n.id), Name: n.name, Driver: 'bridge', Scope: 'local', Subnet: n.subnet, Internal: n.internal })));
      if (flags.format && flags.format !== 'table') throw new InvalidArgumentError(`invalid --format "${flags.format}": use table or json`);
      out(table(['NETWORK ID', 'NAME', 'DRIVER', 'SCOPE', 'SUBNET'], list.map((n) => [id(n.id), n.name, 'bridge', 'local', n.subnet])));
    });

  network
    .command('inspect')
    .description('Display detailed information on networks (JSON)')
    .argument('<name...>', 'network names or IDs')
    .action(async (names: string[], _flags: unknown, cmd: Command) => {
      const engine = await getEngine(cmd);
      const docs: unknown[] = [];
      await eachRef(names, async (n) => void docs.push(await networkDocument(engine.networks, await engine.networks.store.get(n))));
      out(JSON.stringify(docs, null, 4));
    });

  network
    .command('rm')
    .alias('remove')
    .description('Remove networks (refused while containers are attached)')
    .argument('<name...>', 'network names or IDs')
    .option('-f, --force', 'do not fail when a network does not exist')
    .action(async (names: string[], flags: { force?: boolean }, cmd: Command) => {
      const engine = await getEngine(cmd);
      await eachRef(names, async (n) => {
        if (flags.force && !(await engine.networks.store.find(n))) return;
        await engine.networks.removeNetwork(n);
        out(n);
      });
    });

  network
    .command('connect')
    .description('Connect a container to a network (a VM container must be stopped: its NICs are fixed at boot)')
    .argument('<network>', 'network name or ID')
    .argument('<container>', 'container name or ID')
    .option('--ip <address>', 'IPv4 address on the network')
    .option('--alias <name>', 'another DNS name for the container on this network; repeatable', collect, [])
    .action(async (net: string, ref: string, flags: { ip?: string; alias: string[] }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const c = await engine.inspect(ref);
      await engine.networks.connect(c, net, { ...(flags.ip ? { ip: flags.ip } : {}), aliases: flags.alias }, isUp(c.state.status));
    });

  network
    .command('disconnect')
    .description('Disconnect a container from a network')
    .argument('<network>', 'network name or ID')
    .argument('<container>', 'container name or ID')
    .option('-f, --force', 'accepted for docker compatibility')
    .action(async (net: string, ref: string, _flags: unknown, cmd: Command) => {
      const engine = await getEngine(cmd);
      const c = await engine.inspect(ref);
      await engine.networks.disconnect(c, net, isUp(c.state.status));
    });

  network
    .command('prune')
    .description('Remove networks no container is attached to (the default network stays; when idle, its bridge and DNS server are taken down)')
    .option('-f, --force', 'do not prompt (nestbox never prompts here)')
    .action(async (_flags: unknown, cmd: Command) => {
      const engine = await getEngine(cmd);
      const removed = await engine.networks.prune();
      if (removed.length) out(`Deleted Networks:\n${removed.join('\n')}\n`);
    });
}

const isUp = (status: string) => status === 'running' || status === 'paused';

function labels(list: string[]): Record<string, string> {
  const o: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`invalid --label "${kv}": use key=value`);
    o[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return o;
}
