/**
 * Where a registry answers: `docker.io` is served at registry-1.docker.io; every other registry
 * at its own host. HTTPS always, except plain HTTP for registries on loopback or named with
 * `--insecure-registry` (or NESTBOX_INSECURE_REGISTRIES, comma-separated), as Docker allows.
 */
import { isIP } from 'node:net';
import { RegistryError } from '../core/errors.js';
import { DEFAULT_DOMAIN } from '../image/reference.js';

export interface Endpoint {
  /** The registry as references name it: `docker.io`, `localhost:5000`. */
  domain: string;
  /** `https://registry-1.docker.io`, `http://127.0.0.1:5000`. */
  base: string;
  /** Plain HTTP allowed for this registry and the hosts it sends us to. */
  insecure: boolean;
}

export function insecureFromEnv(): string[] {
  return (process.env.NESTBOX_INSECURE_REGISTRIES ?? '').split(',').map((s) => s.trim()).filter(Boolean);
}

export function endpointFor(domain: string, insecureRegistries: readonly string[] = insecureFromEnv()): Endpoint {
  const host = domain === DEFAULT_DOMAIN ? 'registry-1.docker.io' : domain;
  const insecure = isLoopbackHost(host) || insecureRegistries.includes(domain);
  return { domain, base: `${insecure ? 'http' : 'https'}://${host}`, insecure };
}

/** `localhost`, 127.0.0.0/8 or ::1, with or without a port. */
export function isLoopbackHost(hostPort: string): boolean {
  let host = hostPort;
  if (host.startsWith('[')) host = host.slice(1, host.indexOf(']'));
  else if (host.includes(':') && isIP(host) !== 6) host = host.slice(0, host.lastIndexOf(':'));
  if (host === 'localhost' || host === '::1') return true;
  return isIP(host) === 4 && host.startsWith('127.');
}

/** Refuse a plain-HTTP URL unless the registry is allowed to be insecure or the host is loopback. */
export function checkScheme(url: URL, endpoint: Endpoint, what: string): void {
  if (url.protocol === 'https:') return;
  if (url.protocol === 'http:' && (endpoint.insecure || isLoopbackHost(url.host))) return;
  throw new RegistryError(
    `${what}: refusing ${url.protocol}//${url.host} for registry ${endpoint.domain}: plain HTTP is only used for loopback registries or ones named with --insecure-registry`,
    'REGISTRY_INSECURE',
  );
}
