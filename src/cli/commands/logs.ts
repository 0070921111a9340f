import type { Command } from 'commander';
import { getEngine } from '../context.js';
import { readLogs } from '../../core/logs.js';
import { InvalidArgumentError } from '../../core/errors.js';

export function register(program: Command): void {
  program
    .command('logs')
    .description("Fetch the logs of a container (kept even if the CLI that started it was killed)")
    .argument('<container>', 'container name or ID')
    .option('-f, --follow', 'follow log output')
    .option('-n, --tail <lines>', 'number of lines to show from the end of the logs', 'all')
    .option('-t, --timestamps', 'show timestamps')
    .action(async (ref: string, flags: { follow?: boolean; tail: string; timestamps?: boolean }, cmd: Command) => {
      let tail: number | undefined;
      if (flags.tail !== 'all') {
        tail = Number(flags.tail);
        if (!Number.isInteger(tail) || tail < 0) throw new InvalidArgumentError(`invalid --tail "${flags.tail}": use a number of lines or "all"`);
      }
      const engine = await getEngine(cmd);
      const c = await engine.inspect(ref);
      const ac = new AbortController();
      process.once('SIGINT', () => ac.abort());
      let atLineStart = true;
      for await (const e of readLogs(c, { follow: flags.follow ?? false, signal: ac.signal, ...(tail !== undefined ? { tail } : {}) })) {
        const target = e.stream === 'stderr' ? process.stderr : process.stdout;
        if (flags.timestamps) {
          const stamp = e.timeNs !== undefined ? nsToRfc3339(e.timeNs) : '';
          const text = e.data.toString('utf8').replace(/(^|\n)(?=.)/gs, (m, nl: string) => (nl || atLineStart ? `${nl}${stamp} ` : m));
          atLineStart = e.data.at(-1) === 10;
          target.write(text);
        } else {
          target.write(e.data);
        }
      }
    });
}

function nsToRfc3339(ns: bigint): string {
  const ms = Number(ns / 1_000_000n);
  const frac = (ns % 1_000_000_000n).toString().padStart(9, '0');
  return new Date(ms).toISOString().replace(/\.\d{3}Z$/, `.${frac}Z`);
}
