import type { Command } from 'commander';
import { out } from '../context.js';
import { VERSION } from '../../core/version.js';
import { PROTOCOL_VERSION } from '../../guest/protocol.js';

export function register(program: Command): void {
  program
    .command('version')
    .description('Show the nestbox version information')
    .action(() => {
      out(`nestbox version ${VERSION}`);
      out(`guest protocol: ${PROTOCOL_VERSION}`);
      out(`node: ${process.version}`);
    });
}
