/**
 * `login`: check credentials against the registry before storing them — `GET /v2/` with Basic
 * credentials, or a token request with them when the registry uses Bearer tokens.
 */
import { RegistryError } from '../core/errors.js';
import { parseReference } from '../image/reference.js';
import type { Credentials } from './credentials.js';
import { endpointFor, insecureFromEnv } from './endpoint.js';
import { Transport } from './transport.js';

/** Normalise what users type after `login`: `docker.io`, `https://index.docker.io/v1/`, `host:5000`. */
export function registryDomain(input: string | undefined): string {
  if (input === undefined || input === '') return 'docker.io';
  const host = input.replace(/^[a-z]+:\/\//i, '').replace(/\/.*$/, '');
  if (host === 'index.docker.io' || host === 'registry-1.docker.io') return 'docker.io';
  return parseReference(`${host}/x`).domain;
}

export async function verifyLogin(domain: string, creds: Credentials, insecureRegistries: string[] = insecureFromEnv()): Promise<void> {
  const transport = new Transport(endpointFor(domain, insecureRegistries), creds);
  const open = await transport.request('GET', '/v2/', { scopes: [], what: `log in to ${domain}` });
  open.abort();
  const status = open.response.status;
  if (status === 200) return;
  if (status === 401 || status === 403) throw new RegistryError(`log in to ${domain}: the registry refused the username or password (HTTP ${status})`, 'REGISTRY_UNAUTHORIZED');
  throw new RegistryError(`log in to ${domain}: the registry answered HTTP ${status} to /v2/ (is it an OCI registry?)`, status >= 500 ? 'REGISTRY_UNAVAILABLE' : 'REGISTRY_PROTOCOL');
}
