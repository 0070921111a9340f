import { InvalidArgumentError } from '../core/errors.js';

export type ListenAddress = { kind: 'unix'; path: string } | { kind: 'tcp'; host: string; port: number };

export const DEFAULT_HOST = 'unix:///run/nestbox/docker.sock';

/** `-H unix:///path` or `-H tcp://127.0.0.1:2375`, as dockerd takes them. */
export function parseListenAddress(value: string): ListenAddress {
  if (value.startsWith('unix://')) {
    const path = value.slice('unix://'.length);
    if (!path.startsWith('/')) throw new InvalidArgumentError(`invalid -H "${value}": a unix socket needs an absolute path, e.g. unix:///run/nestbox/docker.sock`);
    return { kind: 'unix', path };
  }
  const m = /^tcp:\/\/(\[[^\]]+\]|[^:/]+):(\d+)\/?$/.exec(value);
  if (m) {
    const port = Number(m[2]);
    if (port < 1 || port > 65535) throw new InvalidArgumentError(`invalid -H "${value}": port must be 1-65535`);
    return { kind: 'tcp', host: m[1]!.replace(/^\[|\]$/g, ''), port };
  }
  throw new InvalidArgumentError(`invalid -H "${value}": use unix:///path/to.sock or tcp://HOST:PORT`);
}

export function formatListenAddress(a: ListenAddress): string {
  return a.kind === 'unix' ? `unix://${a.path}` : `tcp://${a.host.includes(':') ? `[${a.host}]` : a.host}:${a.port}`;
}
