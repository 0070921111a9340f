import type { Command } from 'commander';
import { getEngine, out } from '../context.js';
import { InvalidArgumentError } from '../../core/errors.js';

/** `port NAME [PORT[/PROTO]]`: the container's published ports, as docker prints them. */
export function register(program: Command): void {
  program
    .command('port')
    .description("List the container's published ports, or the host address of one")
    .argument('<container>', 'container name or ID')
    .argument('[port]', 'container port, e.g. 80 or 80/tcp')
    .action(async (ref: string, want: string | undefined, _flags: unknown, cmd: Command) => {
      const engine = await getEngine(cmd);
      const c = await engine.inspect(ref);
      let ports = await engine.networks.portsOf(c.config.id);
      if (want) {
        const [p, proto = 'tcp'] = want.split('/');
        ports = ports.filter((b) => String(b.containerPort) === p && b.proto === proto);
        if (!ports.length) throw new InvalidArgumentError(`no public port '${want}' published for ${c.config.name}`);
        return ports.forEach((b) => out(`${b.hostIp ?? '0.0.0.0'}:${b.hostPort}`));
      }
      ports.forEach((b) => out(`${b.containerPort}/${b.proto} -> ${b.hostIp ?? '0.0.0.0'}:${b.hostPort}`));
    });
}
