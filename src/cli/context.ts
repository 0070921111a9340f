import type { Command } from 'commander';
import type { Engine } from '../core/engine.js';

/** Global options every command sees. */
export interface GlobalOptions {
  root?: string;
}

let engine: Engine | undefined;

/** The engine for this invocation, created on first use (commands like --help never load it). */
export async function getEngine(cmd: Command): Promise<Engine> {
  if (!engine) {
    const { Engine } = await import('../core/engine.js');
    const opts = cmd.optsWithGlobals() as GlobalOptions;
    engine = new Engine(opts.root ? { root: opts.root } : {});
  }
  return engine;
}

export const collect = (value: string, previous: string[] = []) => [...previous, value];

export function out(line: string): void {
  process.stdout.write(line + '\n');
}
