import type { Command } from 'commander';
import { collect, getEngine } from '../context.js';
import { DEFAULT_HOST, formatListenAddress, parseListenAddress } from '../../api/address.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('Serve the Docker Engine API (the docker CLI and SDKs work against it); containers outlive the server')
    .option('-H, --host <address>', `where to listen: unix:///path.sock or tcp://HOST:PORT (repeatable; default ${DEFAULT_HOST})`, collect, [])
    .action(async (flags: { host: string[] }, cmd: Command) => {
      const addresses = (flags.host.length ? flags.host : [DEFAULT_HOST]).map(parseListenAddress);
      const engine = await getEngine(cmd);
      const { ApiServer } = await import('../../api/server.js');
      const servers = [];
      for (const addr of addresses) {
        const server = new ApiServer(engine, { log: (line) => process.stderr.write(`nestbox serve: ${line}\n`) });
        await server.listen(addr);
        servers.push(server);
        if (addr.kind === 'tcp' && !['127.0.0.1', '::1', 'localhost'].includes(addr.host)) {
          process.stderr.write(`nestbox serve: WARNING: ${formatListenAddress(addr)} is unauthenticated and unencrypted: anyone who reaches it is root on this host\n`);
        }
        process.stderr.write(`nestbox serve: API listening on ${formatListenAddress(addr)}\n`);
      }
      await new Promise<void>((resolve) => {
        const stop = (sig: NodeJS.Signals) => {
          process.stderr.write(`nestbox serve: ${sig}: shutting down (containers keep running)\n`);
          resolve();
        };
        process.once('SIGTERM', stop);
        process.once('SIGINT', stop);
      });
      await Promise.all(servers.map((s) => s.close()));
    });
}
