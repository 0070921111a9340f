import type { Command } from 'commander';
import { InvalidArgumentError } from '../../core/errors.js';
import { removeCredentials, storeCredentials } from '../../registry/credentials.js';
import { registryDomain, verifyLogin } from '../../registry/login.js';
import { out } from '../context.js';

export function register(program: Command): void {
  program
    .command('login')
    .description('Log in to a registry; credentials are kept in ~/.config/nestbox/auth.json (mode 0600; env NESTBOX_AUTH_FILE)')
    .argument('[server]', 'registry host (default docker.io)')
    .option('-u, --username <name>', 'username')
    .option('-p, --password <password>', 'password (prefer --password-stdin)')
    .option('--password-stdin', 'read the password from stdin')
    .action(async (server: string | undefined, flags: { username?: string; password?: string; passwordStdin?: boolean }) => {
      const domain = registryDomain(server);
      if (flags.password !== undefined && flags.passwordStdin) throw new InvalidArgumentError('--password and --password-stdin cannot be used together');
      const username = flags.username ?? (await prompt('Username: ', false));
      let password = flags.password;
      if (flags.passwordStdin) password = (await readStdin()).replace(/\r?\n$/, '');
      password ??= await prompt('Password: ', true);
      if (!username) throw new InvalidArgumentError('login: a username is required (-u NAME)');
      if (!password) throw new InvalidArgumentError('login: a password is required (-p, --password-stdin, or type it at the prompt)');
      if (flags.password !== undefined) process.stderr.write('WARNING! Using --password via the CLI is insecure. Use --password-stdin.\n');
      await verifyLogin(domain, { username, password });
      const file = await storeCredentials(domain, { username, password });
      process.stderr.write(`Credentials saved in ${file}\n`);
      out('Login Succeeded');
    });
  program
    .command('logout')
    .description('Remove the credentials stored for a registry')
    .argument('[server]', 'registry host (default docker.io)')
    .action(async (server: string | undefined) => {
      const domain = registryDomain(server);
      const removed = await removeCredentials(domain);
      out(removed ? `Removing login credentials for ${domain}` : `Not logged in to ${domain}`);
    });
}

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

async function prompt(question: string, secret: boolean): Promise<string> {
  if (!process.stdin.isTTY) throw new InvalidArgumentError(`login: ${question.replace(': ', '').toLowerCase()} needed: pass it as a flag (stdin is not a terminal)`);
  const { createInterface } = await import('node:readline'); // only when prompting
  const rl = createInterface({ input: process.stdin, output: process.stderr, terminal: true });
  if (secret) (rl as unknown as { _writeToOutput: (s: string) => void })._writeToOutput = (s: string) => { if (s.includes(question)) process.stderr.write(question); };
  try {
    return await new Promise<string>((resolve) => rl.question(question, resolve));
  } finally {
    rl.close();
    if (secret) process.stderr.write('\n');
  }
}
