import type { Command } from 'commander';
import { collect, getEngine } from '../context.js';
import { InvalidArgumentError } from '../../core/errors.js';
import { DEFAULT_HOST, formatListenAddress, parseListenAddress } from '../../api/address.js';

export function register(program: Command): void {
  program
    .command('serve')
    .description('Serve the Docker Engine API (the docker CLI and SDKs work against it); containers outlive the server')
    .option('-H, --host <address>', `where to listen: unix:///path.sock or tcp://HOST:PORT (repeatable; default ${DEFAULT_HOST})`, collect, [])
    .option('--pool <n>', 'keep N ready, paused VM sandboxes per image (restored from its template) for creates to take (also NESTBOX_POOL)')
    .option('--pool-image <image>', 'an image the pool keeps sandboxes of (repeatable; default busybox; also NESTBOX_POOL_IMAGES=a,b)', collect, [])
    .action(async (flags: { host: string[]; pool?: string; poolImage: string[] }, cmd: Command) => {
      const addresses = (flags.host.length ? flags.host : [DEFAULT_HOST]).map(parseListenAddress);
      const engine = await getEngine(cmd);
      const poolSize = Number(flags.pool ?? process.env.NESTBOX_POOL ?? 0);
      if (!Number.isInteger(poolSize) || poolSize < 0 || poolSize > 1000) throw new InvalidArgumentError(`invalid --pool ${flags.pool ?? process.env.NESTBOX_POOL}: a number of sandboxes per image, 0 to 1000`);
      const { WarmPool, sweepPool } = await import('../../core/pool.js');
      const log = (line: string) => process.stderr.write(`nestbox serve: ${line}\n`);
      const poolImages = flags.poolImage.length ? flags.poolImage : (process.env.NESTBOX_POOL_IMAGES ?? 'busybox').split(',').map((s) => s.trim()).filter(Boolean);
      const pool = poolSize ? new WarmPool(engine, { size: poolSize, images: poolImages, log }) : undefined;
      if (pool) {
        engine.pool = pool;
        await pool.start();
      } else {
        await sweepPool(engine);
      }
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
      // pool sandboxes are nobody's containers: they go with the server
      await pool?.drain();
    });
}
