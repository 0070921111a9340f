/**
 * Authorization for one registry, as the distribution spec and Docker do it: anonymous first;
 * on a 401 the `WWW-Authenticate` challenge says Basic (send the stored credentials) or Bearer
 * (get a token for the scopes from the realm, with Basic credentials if we have them, and cache
 * it until it expires). Tokens are per scope set: pull-only and push tokens differ.
 */
import { RegistryError } from '../core/errors.js';
import { parseChallenges, type Challenge } from './challenge.js';
import type { Credentials } from './credentials.js';
import { checkScheme, type Endpoint } from './endpoint.js';

const MAX_TOKEN_RESPONSE = 1024 * 1024;
/** Docker's default when the token server gives no `expires_in`. */
const DEFAULT_TOKEN_SECONDS = 60;

/** GET `url` and read the answer, at most `limit` bytes. */
export type Fetcher = (url: URL, headers: Record<string, string>, limit: number, what: string) => Promise<{ status: number; body: Buffer }>;

export class Authenticator {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, { token: string; expires: number }>();

  constructor(
    private readonly endpoint: Endpoint,
    private readonly creds: Credentials | undefined,
    private readonly fetcher: Fetcher,
  ) {}

  get hasCredentials(): boolean {
    return this.creds !== undefined;
  }

  /** The Authorization header for a request needing `scopes`, if the registry asked for one. */
  async header(scopes: readonly string[]): Promise<string | undefined> {
    const c = this.challenge;
    if (c === undefined) return undefined;
    if (c.scheme === 'basic') return this.basic();
    if (c.scheme === 'bearer') return `Bearer ${await this.token(c, scopes)}`;
    return undefined;
  }

  /**
   * Learn from a 401. True when a retry with new authorization may succeed; false when we
   * already sent what we have (the caller reports the refusal).
   */
  async onUnauthorized(response: Response, scopes: readonly string[], sent: string | undefined): Promise<boolean> {
    const challenges = parseChallenges(response.headers.get('www-authenticate'));
    const chosen = challenges.find((c) => c.scheme === 'bearer' && c.params.realm) ?? challenges.find((c) => c.scheme === 'basic');
    if (chosen === undefined) {
      throw new RegistryError(`registry ${this.endpoint.domain} answered 401 without a Basic or Bearer challenge it could be answered with`, 'REGISTRY_UNAUTHORIZED');
    }
    const known = this.challenge;
    this.challenge = chosen;
    if (chosen.scheme === 'basic') return sent === undefined && this.creds !== undefined;
    if (sent === undefined || known?.params.realm !== chosen.params.realm) return true;
    // A bearer token was refused: drop it; retrying with a fresh one helps only if it expired.
    this.tokens.delete(scopeKey(scopes));
    return false;
  }

  private basic(): string | undefined {
    if (!this.creds) return undefined;
    return `Basic ${Buffer.from(`${this.creds.username}:${this.creds.password}`).toString('base64')}`;
  }

  private async token(c: Challenge, scopes: readonly string[]): Promise<string> {
    const key = scopeKey(scopes);
    const cached = this.tokens.get(key);
    if (cached && cached.expires > Date.now()) return cached.token;
    let realm: URL;
    try {
      realm = new URL(c.params.realm!);
    } catch {
      throw new RegistryError(`registry ${this.endpoint.domain} sent a bad token realm \`${c.params.realm}\``);
    }
    checkScheme(realm, this.endpoint, `token for ${this.endpoint.domain}`);
    if (c.params.service) realm.searchParams.set('service', c.params.service);
    for (const s of scopes) realm.searchParams.append('scope', s);
    const basic = this.basic();
    let answer: { status: number; body: Buffer };
    try {
      answer = await this.fetcher(realm, basic ? { authorization: basic } : {}, MAX_TOKEN_RESPONSE, `token response from ${realm.host}`);
    } catch (err) {
      if (err instanceof RegistryError) throw err;
      throw new RegistryError(`get a token for ${this.endpoint.domain} from ${realm.origin}: ${(err as Error).message}`, 'REGISTRY_UNAVAILABLE', { cause: err });
    }
    if (answer.status === 401 || answer.status === 403) {
      throw new RegistryError(
        basic
          ? `log in to ${this.endpoint.domain}: the token server ${realm.host} refused the stored credentials (${answer.status}); run \`nestbox login ${this.endpoint.domain}\` again`
          : `registry ${this.endpoint.domain} needs credentials: run \`nestbox login ${this.endpoint.domain}\``,
        'REGISTRY_UNAUTHORIZED',
      );
    }
    if (answer.status < 200 || answer.status > 299) {
      throw new RegistryError(`get a token for ${this.endpoint.domain} from ${realm.host}: HTTP ${answer.status}`, answer.status >= 500 ? 'REGISTRY_UNAVAILABLE' : 'REGISTRY_PROTOCOL');
    }
    const body = answer.body;
    let parsed: { token?: unknown; access_token?: unknown; expires_in?: unknown };
    try {
      parsed = JSON.parse(body.toString('utf8')) as typeof parsed;
    } catch {
      throw new RegistryError(`token response from ${realm.host} is not JSON`);
    }
    const token = typeof parsed.token === 'string' && parsed.token ? parsed.token : parsed.access_token;
    if (typeof token !== 'string' || token.length === 0 || /[\s]/.test(token)) throw new RegistryError(`token response from ${realm.host} has no usable token`);
    const seconds = typeof parsed.expires_in === 'number' && parsed.expires_in > 0 ? parsed.expires_in : DEFAULT_TOKEN_SECONDS;
    // Renew a little early so a token never expires in the middle of a request.
    this.tokens.set(key, { token, expires: Date.now() + Math.max(1, seconds - 10) * 1000 });
    return token;
  }
}

function scopeKey(scopes: readonly string[]): string {
  return [...scopes].sort().join(' ');
}
