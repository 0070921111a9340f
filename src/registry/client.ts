/**
 * One repository on one registry, by the OCI distribution spec: manifests (read with a size
 * bound and checked against their digest), blobs (streamed, resumable with Range), blob
 * existence, cross-repository mounts, uploads and manifest pushes. Nothing here trusts the
 * registry: every manifest digest is recomputed; blob digests are checked by the caller's meter.
 */
import { RegistryError } from '../core/errors.js';
import { sha256Digest } from '../image/digest.js';
import { MEDIA } from '../image/oci.js';
import type { ImageReference } from '../image/reference.js';
import { findCredentials, type Credentials } from './credentials.js';
import { endpointFor, insecureFromEnv } from './endpoint.js';
import { Transport, type OpenResponse, type TransportOptions } from './transport.js';

/** containerd's limit; real manifests and indexes are a few KiB. */
export const MAX_MANIFEST_BYTES = 4 * 1024 * 1024;

export const MANIFEST_ACCEPT = [
  MEDIA.ociIndex,
  MEDIA.ociManifest,
  MEDIA.dockerList,
  MEDIA.dockerManifest,
].join(', ');

export interface FetchedManifest {
  bytes: Buffer;
  digest: string;
  mediaType: string | undefined;
}

export interface ClientOptions extends TransportOptions {
  insecureRegistries?: string[];
  /** Credentials to use instead of the stored ones (login checks these). */
  credentials?: Credentials;
}

export class RegistryClient {
  readonly transport: Transport;
  readonly what: string;

  private constructor(readonly ref: ImageReference, transport: Transport) {
    this.transport = transport;
    this.what = ref.name;
  }

  static async open(ref: ImageReference, options: ClientOptions = {}): Promise<RegistryClient> {
    const endpoint = endpointFor(ref.domain, options.insecureRegistries ?? insecureFromEnv());
    const creds = options.credentials ?? (await findCredentials(ref.domain));
    return new RegistryClient(ref, new Transport(endpoint, creds, options));
  }

  get domain(): string {
    return this.ref.domain;
  }

  pullScope(path = this.ref.path): string {
    return `repository:${path}:pull`;
  }

  pushScopes(): string[] {
    return [`repository:${this.ref.path}:pull,push`];
  }

  /** GET a manifest by tag or digest; its digest is recomputed and checked against what we asked for. */
  async manifest(reference: string): Promise<FetchedManifest> {
    const what = `manifest ${this.ref.name}${reference.startsWith('sha256:') ? '@' : ':'}${reference}`;
    const open = await this.transport.request('GET', `/v2/${this.ref.path}/manifests/${reference}`, {
      headers: { accept: MANIFEST_ACCEPT },
      scopes: [this.pullScope()],
      what,
    });
    await this.expectOk(open, what, [200]);
    const bytes = await this.transport.readAll(open, MAX_MANIFEST_BYTES, what);
    const digest = sha256Digest(bytes);
    if (reference.startsWith('sha256:') && digest !== reference) {
      throw new RegistryError(`${what}: digest mismatch: the registry sent content that hashes to ${digest}`, 'IMAGE_DIGEST_MISMATCH');
    }
    const claimed = open.response.headers.get('docker-content-digest');
    if (claimed && claimed.startsWith('sha256:') && claimed !== digest) {
      throw new RegistryError(`${what}: digest mismatch: the registry says ${claimed}, the content hashes to ${digest}`, 'IMAGE_DIGEST_MISMATCH');
    }
    const contentType = open.response.headers.get('content-type')?.split(';')[0]?.trim();
    return { bytes, digest, mediaType: contentType || undefined };
  }

  /** Open a blob, from byte `offset` when > 0. `partial` says whether the registry honoured the Range. */
  async blob(digest: string, offset = 0): Promise<{ open: OpenResponse; partial: boolean; total: number | undefined }> {
    const what = `blob ${digest} of ${this.ref.name}`;
    const open = await this.transport.request('GET', `/v2/${this.ref.path}/blobs/${digest}`, {
      headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
      scopes: [this.pullScope()],
      what,
    });
    if (offset > 0 && open.response.status === 416) {
      open.abort();
      return this.blob(digest, 0);
    }
    await this.expectOk(open, what, [200, 206]);
    const partial = open.response.status === 206;
    if (partial) {
      const range = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(open.response.headers.get('content-range') ?? '');
      if (!range || Number(range[1]) !== offset) {
        open.abort();
        throw new RegistryError(`${what}: the registry answered a resume from byte ${offset} with range \`${open.response.headers.get('content-range')}\``);
      }
    }
    const length = Number(open.response.headers.get('content-length') ?? NaN);
    return { open, partial, total: Number.isFinite(length) ? length + (partial ? offset : 0) : undefined };
  }

  async hasBlob(digest: string): Promise<boolean> {
    const what = `blob ${digest} of ${this.ref.name}`;
    const open = await this.transport.request('HEAD', `/v2/${this.ref.path}/blobs/${digest}`, { scopes: this.pushScopes(), what });
    open.abort();
    if (open.response.status === 200) return true;
    if (open.response.status === 404) return false;
    await this.expectOk(open, what, [200]);
    return false;
  }

  /**
   * Upload a blob: POST for an upload session, then one PUT with the whole body and the digest
   * (the registry verifies it). `body` is called once per attempt.
   */
  async upload(digest: string, size: number, body: () => RequestInit['body']): Promise<void> {
    const what = `upload blob ${digest} to ${this.ref.name}`;
    const start = await this.transport.request('POST', `/v2/${this.ref.path}/blobs/uploads/`, { scopes: this.pushScopes(), what, headers: { 'content-length': '0' } });
    await this.expectOk(start, what, [202]);
    start.abort();
    const location = start.response.headers.get('location');
    if (!location) throw new RegistryError(`${what}: the registry gave no upload location`);
    const url = new URL(location, start.url);
    url.searchParams.set('digest', digest);
    const put = await this.transport.request('PUT', url, {
      scopes: this.pushScopes(),
      what,
      headers: { 'content-type': 'application/octet-stream', 'content-length': String(size) },
      body: body(),
    });
    await this.expectOk(put, what, [201]);
    put.abort();
  }

  /** PUT a manifest under a tag (or digest); returns the digest the registry reports, checked. */
  async putManifest(reference: string, bytes: Buffer, mediaType: string): Promise<string> {
    const what = `push manifest ${this.ref.name}:${reference}`;
    const open = await this.transport.request('PUT', `/v2/${this.ref.path}/manifests/${reference}`, {
      scopes: this.pushScopes(),
      what,
      headers: { 'content-type': mediaType },
      body: bytes,
    });
    await this.expectOk(open, what, [201, 200]);
    open.abort();
    const digest = sha256Digest(bytes);
    const claimed = open.response.headers.get('docker-content-digest');
    if (claimed && claimed !== digest) throw new RegistryError(`${what}: the registry stored it as ${claimed}, expected ${digest}`, 'IMAGE_DIGEST_MISMATCH');
    return digest;
  }

  /** Turn a non-expected status into an error that says what the registry meant. */
  async expectOk(open: OpenResponse, what: string, ok: number[]): Promise<void> {
    const status = open.response.status;
    if (ok.includes(status)) return;
    let detail = '';
    try {
      const text = (await this.transport.readAll(open, 64 * 1024, what)).toString('utf8');
      const parsed = JSON.parse(text) as { errors?: { code?: string; message?: string }[] };
      detail = (parsed.errors ?? []).map((e) => [e.code, e.message].filter(Boolean).join(': ')).join('; ');
    } catch {
      // not a registry error document
    }
    const suffix = detail ? ` (${detail.slice(0, 300)})` : '';
    if (status === 401) {
      throw new RegistryError(
        this.transport.auth.hasCredentials
          ? `${what}: registry ${this.domain} refused the credentials${suffix}`
          : `${what}: registry ${this.domain} needs credentials: run \`nestbox login ${this.domain}\`${suffix}`,
        'REGISTRY_UNAUTHORIZED',
      );
    }
    if (status === 403) throw new RegistryError(`${what}: access denied by registry ${this.domain}${suffix}`, 'REGISTRY_DENIED');
    if (status === 404) throw new RegistryError(`${what}: not found on registry ${this.domain}${suffix}`, 'REGISTRY_NOT_FOUND');
    if (status >= 500) throw new RegistryError(`${what}: registry ${this.domain} answered HTTP ${status}${suffix}; try again later`, 'REGISTRY_UNAVAILABLE');
    throw new RegistryError(`${what}: registry ${this.domain} answered HTTP ${status}${suffix}`, 'REGISTRY_PROTOCOL');
  }
}
