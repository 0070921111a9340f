import type { SandboxApi } from './api.js';
import { collect, removeQuietly, type Output } from './output.js';

/** A sandbox whose main process has exited: its exit code and logs remain until `remove()`. */
export class StoppedSandbox implements AsyncDisposable {
  constructor(
    private readonly api: SandboxApi,
    readonly id: string,
    readonly name: string,
    readonly exitCode: number,
  ) {}

  logs(): Promise<Output> {
    return collect(this.api.logs(this.id, {}));
  }

  async remove(): Promise<void> {
    await this.api.remove(this.id, false);
  }

  async [Symbol.asyncDispose](): Promise<void> {
    await removeQuietly(this.api, this.id);
  }
}
