import { ConflictError } from '../core/errors.js';
import type { PullSpec, SandboxApi, SandboxSpec } from './api.js';
import { LocalApi } from './local-api.js';
import { RemoteApi } from './remote-api.js';
import { Sandbox } from './sandbox.js';

/**
 * The SDK's entry point. `Nestbox.local()` runs sandboxes in this process (over the Engine, no
 * server); `Nestbox.connect()` drives a `nestbox serve`. Both give the same `Sandbox` API, the
 * same error classes and the same error codes.
 */
export class Nestbox implements AsyncDisposable {
  private constructor(readonly api: SandboxApi) {}

  /** In-process: `root` is the state directory (default as the CLI: $NESTBOX_ROOT or /var/lib/nestbox). */
  static local(opts: { root?: string } = {}): Nestbox {
    return new Nestbox(new LocalApi(opts.root !== undefined ? { root: opts.root } : {}));
  }

  /** Against `nestbox serve -H unix://PATH`. */
  static connect(opts: { socketPath: string }): Nestbox {
    return new Nestbox(new RemoteApi(opts.socketPath));
  }

  /** Over any implementation of the transport (e.g. a fake in unit tests). */
  static over(api: SandboxApi): Nestbox {
    return new Nestbox(api);
  }

  /** Create a sandbox and start it; resolves once its main process runs. */
  async create(spec: SandboxSpec): Promise<Sandbox> {
    const policy = spec.pull ?? 'missing';
    if (policy === 'always' || (policy === 'missing' && !(await this.api.hasImage(spec.image)))) {
      await this.pull(spec.image, spec.credentials ? { credentials: spec.credentials } : {});
    }
    const id = await this.api.createAndStart(spec);
    const info = await this.api.inspect(id);
    return new Sandbox(this.api, id, info.name);
  }

  /** Pull an image from its registry (see docs/registry.md). */
  pull(ref: string, opts: PullSpec = {}): Promise<{ ref: string; digest: string }> {
    return this.api.pull(ref, opts);
  }

  /** A running sandbox by id, id prefix or name (NotFoundError / ConflictError `NOT_RUNNING` otherwise). */
  async get(ref: string): Promise<Sandbox> {
    const info = await this.api.inspect(ref);
    if (info.status !== 'running') throw new ConflictError(`sandbox ${info.name} is not running (${info.status})`, 'NOT_RUNNING');
    return new Sandbox(this.api, info.id, info.name);
  }

  close(): Promise<void> {
    return this.api.close();
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await this.close();
  }
}
