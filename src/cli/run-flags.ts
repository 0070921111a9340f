import { promises as fs } from 'node:fs';
import type { Command } from 'commander';
import { fromHostEnv, parseCpus, parseMemory, parseNanoCpus, type CreateOptions } from '../core/create-spec.js';
import { InvalidArgumentError } from '../core/errors.js';
import { collect } from './context.js';
import { parseMountFlag, parseTmpfsFlag, parseVolumeFlag } from '../core/mount-spec.js';
import type { NetworkRequest } from '../core/network-attach.js';
import { parsePortFlag } from '../core/network-ports.js';

/** Flags shared by `create` and `run` (Docker's names). */
export function addCreateFlags(cmd: Command): Command {
  return cmd
    .option('--name <name>', 'assign a name to the container')
    .option('-e, --env <KEY=VALUE>', 'set an environment variable (repeatable)', collect, [])
    .option('--env-file <file>', 'read environment variables from a file (repeatable)', collect, [])
    .option('-w, --workdir <dir>', 'working directory inside the container')
    .option('-u, --user <user[:group]>', 'user name or uid (format: <name|uid>[:<group|gid>])')
    .option('--entrypoint <cmd>', "overwrite the image's default ENTRYPOINT")
    .option('-h, --hostname <name>', 'container host name')
    .option('-i, --interactive', 'keep STDIN open')
    .option('-t, --tty', 'allocate a pseudo-TTY')
    .option('--isolation <mode>', 'isolation: vm (own kernel, default) or process (runc namespaces)', 'vm')
    .option('-m, --memory <bytes>', 'VM memory, e.g. 512m, 1g (default 256m)')
    .option('--cpus <n>', 'number of vCPUs')
    .option('--read-only', "mount the container's root filesystem as read only")
    .option('--rm', 'automatically remove the container when it exits')
    .option('--no-template', 'boot the VM instead of restoring it from the image\'s VM template (also NESTBOX_TEMPLATES=0)')
    .option('-v, --volume <src:dst[:ro]>', 'mount a named volume (NAME:/path), a host directory (/host/dir:/path) or a new anonymous volume (/path); repeatable', collect, [])
    .option('--mount <spec>', 'mount: type=volume|bind|tmpfs,source=…,target=…[,readonly]; repeatable', collect, [])
    .option('--tmpfs <path[:opts]>', 'mount a tmpfs, e.g. /run:size=64m,mode=1777; repeatable', collect, [])
    .option('--network <name>', 'connect to a network: a name, bridge (the default) or none; repeatable', collect, [])
    .option('--ip <address>', 'IPv4 address on the (first) network')
    .option('--network-alias <name>', 'another DNS name on the (first) network; repeatable', collect, [])
    .option('--dns <ip>', 'DNS server (default: the network\'s); repeatable', collect, [])
    .option('-p, --publish <[ip:][host:]port[/proto]>', 'publish a container port on the host; repeatable', collect, [])
    .option('-P, --publish-all', "publish the image's exposed ports on random host ports")
    .option('--pull <policy>', 'pull the image before creating: missing (default), always, never')
    .option('--platform <os/arch[/variant]>', 'platform to pull when the image is pulled (default: the host\'s)')
    .passThroughOptions();
}

interface CreateFlags {
  name?: string;
  env: string[];
  envFile: string[];
  workdir?: string;
  user?: string;
  entrypoint?: string;
  hostname?: string;
  interactive?: boolean;
  tty?: boolean;
  isolation: string;
  memory?: string;
  cpus?: string;
  readOnly?: boolean;
  rm?: boolean;
  template?: boolean;
  volume?: string[];
  mount?: string[];
  tmpfs?: string[];
  network?: string[];
  ip?: string;
  networkAlias?: string[];
  dns?: string[];
  publish?: string[];
  publishAll?: boolean;
}

export async function toCreateOptions(image: string, cmd: string[], flags: CreateFlags): Promise<CreateOptions & { template?: boolean }> {
  if (flags.isolation !== 'vm' && flags.isolation !== 'process') {
    throw new InvalidArgumentError(`invalid --isolation "${flags.isolation}": use vm or process`);
  }
  const env: string[] = [];
  for (const file of flags.envFile) env.push(...(await readEnvFile(file)));
  env.push(...flags.env);
  return {
    image,
    cmd,
    env: fromHostEnv(env),
    isolation: flags.isolation,
    ...(flags.name !== undefined ? { name: flags.name } : {}),
    ...(flags.workdir !== undefined ? { workdir: flags.workdir } : {}),
    ...(flags.user !== undefined ? { user: flags.user } : {}),
    ...(flags.entrypoint !== undefined ? { entrypoint: flags.entrypoint } : {}),
    ...(flags.hostname !== undefined ? { hostname: flags.hostname } : {}),
    tty: flags.tty ?? false,
    openStdin: flags.interactive ?? false,
    ...(flags.memory !== undefined ? { memoryMiB: parseMemory(flags.memory) } : {}),
    ...(flags.cpus !== undefined ? { cpus: parseCpus(flags.cpus), nanoCpus: parseNanoCpus(flags.cpus) } : {}),
    readOnly: flags.readOnly ?? false,
    autoRemove: flags.rm ?? false,
    ...(flags.template === false ? { template: false } : {}),
    ...networkOptions(flags),
    mounts: [...(flags.volume ?? []).map(parseVolumeFlag), ...(flags.mount ?? []).map(parseMountFlag), ...(flags.tmpfs ?? []).map(parseTmpfsFlag)],
  };
}

/** `--network` (with `--ip` and `--network-alias` for the first), `--dns`, `-p`, `-P`. */
function networkOptions(flags: CreateFlags): Pick<CreateOptions, 'networks' | 'dns' | 'ports' | 'publishAll'> {
  const names = flags.network?.length ? flags.network : flags.ip || flags.networkAlias?.length ? ['bridge'] : [];
  const networks: NetworkRequest[] = names.map((name, i) => ({
    name,
    ...(i === 0 && flags.ip ? { ip: flags.ip } : {}),
    ...(i === 0 && flags.networkAlias?.length ? { aliases: flags.networkAlias } : {}),
  }));
  return {
    ...(networks.length ? { networks } : {}),
    ...(flags.dns?.length ? { dns: flags.dns } : {}),
    ...(flags.publish?.length ? { ports: flags.publish.map(parsePortFlag) } : {}),
    ...(flags.publishAll ? { publishAll: true } : {}),
  };
}

/** Docker's env-file format: KEY=VALUE lines, `#` comments, a bare KEY takes the host's value. */
async function readEnvFile(file: string): Promise<string[]> {
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    throw new InvalidArgumentError(`open env file \`${file}\`: ${(err as NodeJS.ErrnoException).code === 'ENOENT' ? 'no such file or directory' : (err as Error).message}`);
  }
  return text
    .split(/\r?\n/)
    .map((l) => l.replace(/^\s+/, ''))
    .filter((l) => l && !l.startsWith('#'));
}
