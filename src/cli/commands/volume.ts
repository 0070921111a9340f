import type { Command } from 'commander';
import { collect, getEngine, out } from '../context.js';
import { humanSize, table } from '../format.js';
import { anonymousVolumeName } from '../../core/mount-spec.js';
import { InvalidArgumentError } from '../../core/errors.js';
import type { Volume } from '../../core/volumes.js';
import { eachRef } from '../each.js';

/** `volume create|ls|inspect|rm|prune`: named volumes that outlive containers. */
export function register(program: Command): void {
  const volume = program.command('volume').description('Manage volumes (data that outlives containers)');

  volume
    .command('create')
    .description('Create a volume (an existing one of that name is returned as is)')
    .argument('[name]', 'volume name (default: a random one)')
    .option('-d, --driver <driver>', 'local (an ext4 disk image: a virtio-blk disk for VMs, loop-mounted for runc) or hostdir (a host directory: virtio-9p for VMs, bind-mounted for runc)', 'local')
    .option('-o, --opt <key=value>', 'driver option, e.g. size=1g (local)', collect, [])
    .option('--label <key=value>', 'label', collect, [])
    .action(async (name: string | undefined, flags: { driver: string; opt: string[]; label: string[] }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const v = await engine.volumes.create(name ?? anonymousVolumeName(), { driver: flags.driver, options: pairs(flags.opt, '-o'), labels: pairs(flags.label, '--label') });
      out(v.name);
    });

  volume
    .command('ls')
    .alias('list')
    .description('List volumes')
    .option('-q, --quiet', 'only names')
    .option('--format <format>', "'table' (default) or 'json'")
    .action(async (flags: { quiet?: boolean; format?: string }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const list = await engine.volumes.list();
      if (flags.quiet) return list.forEach((v) => out(v.name));
      if (flags.format === 'json') return list.forEach((v) => out(JSON.stringify({ Driver: v.driver, Labels: v.labels, Mountpoint: v.mountpoint, Name: v.name, Scope: 'local' })));
      if (flags.format && flags.format !== 'table') throw new InvalidArgumentError(`invalid --format "${flags.format}": use table or json`);
      out(table(['DRIVER', 'VOLUME NAME'], list.map((v) => [v.driver, v.name])));
    });

  volume
    .command('inspect')
    .description('Display detailed information on volumes (JSON)')
    .argument('<name...>', 'volume names')
    .action(async (names: string[], _flags: unknown, cmd: Command) => {
      const engine = await getEngine(cmd);
      const docs: unknown[] = [];
      await eachRef(names, async (n) => {
        const v = await engine.volumes.inspect(n);
        docs.push(inspectDocument(v, await engine.volumeUsers(n), await engine.volumes.usage(n)));
      });
      out(JSON.stringify(docs, null, 4));
    });

  volume
    .command('rm')
    .alias('remove')
    .description('Remove volumes (refused while a container uses them)')
    .argument('<name...>', 'volume names')
    .option('-f, --force', 'accepted for docker compatibility; a volume in use is still refused')
    .action(async (names: string[], _flags: unknown, cmd: Command) => {
      const engine = await getEngine(cmd);
      await eachRef(names, async (n) => {
        await engine.volumes.remove(n, (x) => engine.volumeUsers(x));
        out(n);
      });
    });

  volume
    .command('prune')
    .description('Remove volumes no container uses (anonymous ones; all of them with -a)')
    .option('-a, --all', 'named volumes too')
    .option('-f, --force', 'do not prompt (nestbox never prompts here)')
    .action(async (flags: { all?: boolean }, cmd: Command) => {
      const engine = await getEngine(cmd);
      const r = await engine.volumes.prune((x) => engine.volumeUsers(x), flags.all ?? false);
      if (r.removed.length) out(`Deleted Volumes:\n${r.removed.join('\n')}\n`);
      out(`Total reclaimed space: ${humanSize(r.bytes)}`);
    });
}

function pairs(list: string[], flag: string): Record<string, string> {
  const outMap: Record<string, string> = {};
  for (const kv of list) {
    const eq = kv.indexOf('=');
    if (eq <= 0) throw new InvalidArgumentError(`invalid ${flag} "${kv}": use key=value`);
    outMap[kv.slice(0, eq)] = kv.slice(eq + 1);
  }
  return outMap;
}

function inspectDocument(v: Volume, users: string[], bytes: number): Record<string, unknown> {
  return {
    CreatedAt: v.created,
    Driver: v.driver,
    Labels: v.labels,
    Mountpoint: v.mountpoint,
    Name: v.name,
    Options: v.options,
    Scope: 'local',
    UsageData: { RefCount: users.length, Size: bytes },
    Nestbox: { Anonymous: v.anonymous, UsedBy: users },
  };
}
