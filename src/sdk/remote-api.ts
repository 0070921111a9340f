import { BackendError, ImageError, NotFoundError, RegistryError } from '../core/errors.js';
import { envList, KEEP_ALIVE_CMD, type ExecOptions, type LogsOptions, type OutputChunk, type PullSpec, type SandboxApi, type SandboxInfo, type SandboxSpec } from './api.js';
import { Demuxer } from './demux.js';
import { HttpClient } from './http-client.js';
import { toReadable } from './local-api.js';

interface InspectJson {
  Id: string;
  Name: string;
  State: { Status: SandboxInfo['status']; ExitCode: number };
  Config: { Image: string };
  HostConfig: { Isolation: SandboxInfo['isolation'] };
}

/** The SDK against `nestbox serve`, through the Docker-compatible endpoints it implements. */
export class RemoteApi implements SandboxApi {
  private readonly http: HttpClient;

  constructor(socketPath: string) {
    this.http = new HttpClient(socketPath);
  }

  async hasImage(ref: string): Promise<boolean> {
    try {
      await this.http.request('GET', `/images/${ref}/json`);
      return true;
    } catch (err) {
      if (err instanceof NotFoundError) return false;
      throw err;
    }
  }

  /** `POST /images/create`: progress streams as JSON lines; a failure mid-stream is an `error` line. */
  async pull(ref: string, opts: PullSpec): Promise<{ ref: string; digest: string }> {
    const q = new URLSearchParams({ fromImage: ref, ...(opts.platform ? { platform: opts.platform } : {}) });
    const headers: Record<string, string> = opts.credentials
      ? { 'X-Registry-Auth': Buffer.from(JSON.stringify({ username: opts.credentials.username, password: opts.credentials.password })).toString('base64url') }
      : {};
    const reply = await this.http.request('POST', `/images/create?${q}`, undefined, headers);
    let digest = '';
    for (const line of reply.body.toString('utf8').split(/\r?\n/)) {
      if (!line.trim()) continue;
      const m = JSON.parse(line) as { status?: string; error?: string; code?: string };
      if (m.error) throw m.code?.startsWith('IMAGE_') ? new ImageError(m.error, m.code) : new RegistryError(m.error, m.code ?? 'REGISTRY_PULL_FAILED');
      const d = /^Digest: (sha256:[a-f0-9]{64})$/.exec(m.status ?? '');
      if (d) digest = d[1]!;
    }
    return { ref, digest };
  }

  async createAndStart(spec: SandboxSpec): Promise<string> {
    const q = spec.name !== undefined ? `?name=${encodeURIComponent(spec.name)}` : '';
    const { Id } = await this.http.json<{ Id: string }>('POST', `/containers/create${q}`, createBody(spec));
    try {
      await this.http.request('POST', `/containers/${Id}/start`);
    } catch (err) {
      await this.remove(Id, true).catch(() => undefined);
      throw err;
    }
    return Id;
  }

  async inspect(id: string): Promise<SandboxInfo> {
    const j = await this.http.json<InspectJson>('GET', `/containers/${enc(id)}/json`);
    return {
      id: j.Id,
      name: j.Name.replace(/^\//, ''),
      image: j.Config.Image,
      isolation: j.HostConfig.Isolation,
      status: j.State.Status,
      ...(j.State.Status === 'exited' ? { exitCode: j.State.ExitCode } : {}),
    };
  }

  async exec(id: string, cmd: string[], opts: ExecOptions): Promise<number> {
    const env = envList(opts.env);
    const { Id } = await this.http.json<{ Id: string }>('POST', `/containers/${enc(id)}/exec`, {
      Cmd: cmd,
      AttachStdin: opts.stdin !== undefined,
      AttachStdout: true,
      AttachStderr: true,
      Tty: false,
      ...(env ? { Env: env } : {}),
      ...(opts.cwd ? { WorkingDir: opts.cwd } : {}),
      ...(opts.user ? { User: opts.user } : {}),
    });
    const socket = await this.http.upgrade('POST', `/exec/${Id}/start`, { Detach: false, Tty: false });
    const demux = new Demuxer((stream, data) => (stream === 'stdout' ? opts.onStdout : opts.onStderr)?.(data));
    let socketError: Error | undefined;
    const done = new Promise<void>((resolve) => {
      socket.on('data', (d: Buffer) => demux.push(d));
      socket.on('error', (err) => (socketError = err)); // e.g. EPIPE: the command ended without reading its stdin
      socket.once('close', () => resolve());
    });
    if (opts.stdin === undefined) {
      socket.end();
    } else {
      const input = toReadable(opts.stdin);
      input.once('error', (err) => {
        socketError = err;
        socket.destroy();
      });
      input.pipe(socket); // ends (half-closes) the socket at EOF: the command sees EOF on stdin
    }
    await done;
    const j = await this.http.json<{ Running: boolean; ExitCode: number | null }>('GET', `/exec/${Id}/json`);
    if (j.Running || j.ExitCode === null) {
      throw new BackendError(`exec ${cmd[0]} in ${id}: the connection to the server ended before the command did${socketError ? ` (${socketError.message})` : ''}`, 'EXEC_DISCONNECTED');
    }
    if (demux.leftover) throw new BackendError(`exec ${cmd[0]} in ${id}: the output stream ended inside a frame`, 'PROTOCOL');
    return j.ExitCode;
  }

  async *logs(id: string, opts: LogsOptions): AsyncIterable<OutputChunk> {
    const res = await this.http.stream('GET', `/containers/${enc(id)}/logs?stdout=1&stderr=1&follow=${opts.follow ? 1 : 0}`, opts.signal);
    const out: OutputChunk[] = [];
    const demux = new Demuxer((stream, data) => out.push({ stream, data }));
    try {
      for await (const chunk of res) {
        demux.push(chunk as Buffer);
        yield* out.splice(0);
      }
    } catch (err) {
      if (!opts.signal?.aborted) throw err;
    } finally {
      res.destroy();
    }
  }

  async wait(id: string): Promise<number> {
    const r = await this.http.json<{ StatusCode: number; Error?: { Message?: string } | null }>('POST', `/containers/${enc(id)}/wait`);
    if (r.Error?.Message) throw new BackendError(`wait for ${id}: ${r.Error.Message}`);
    return r.StatusCode;
  }

  async stop(id: string, timeoutSec: number): Promise<void> {
    await this.http.request('POST', `/containers/${enc(id)}/stop?t=${timeoutSec}`);
  }

  async kill(id: string, signal: string): Promise<void> {
    await this.http.request('POST', `/containers/${enc(id)}/kill?signal=${encodeURIComponent(signal)}`);
  }

  async remove(id: string, force: boolean): Promise<void> {
    await this.http.request('DELETE', `/containers/${enc(id)}?force=${force ? 1 : 0}`);
  }

  async close(): Promise<void> {
    this.http.close();
  }
}

const enc = encodeURIComponent;

function createBody(spec: SandboxSpec): Record<string, unknown> {
  const hc: Record<string, unknown> = {};
  if (spec.isolation !== undefined) hc.Isolation = spec.isolation;
  if (spec.memoryMiB !== undefined) hc.Memory = spec.memoryMiB * 1024 * 1024;
  if (spec.cpus !== undefined) hc.NanoCpus = spec.cpus * 1e9;
  if (spec.readOnly !== undefined) hc.ReadonlyRootfs = spec.readOnly;
  const env = envList(spec.env);
  return {
    Image: spec.image,
    Cmd: spec.cmd ?? KEEP_ALIVE_CMD,
    ...(spec.entrypoint !== undefined ? { Entrypoint: spec.entrypoint === '' ? [] : [spec.entrypoint] } : {}),
    ...(env ? { Env: env } : {}),
    ...(spec.workdir !== undefined ? { WorkingDir: spec.workdir } : {}),
    ...(spec.user !== undefined ? { User: spec.user } : {}),
    ...(spec.hostname !== undefined ? { Hostname: spec.hostname } : {}),
    HostConfig: hc,
  };
}
