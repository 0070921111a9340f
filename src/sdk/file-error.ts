import { NestboxError } from '../core/errors.js';

/** Reading or writing a file in a sandbox failed for a reason other than a missing path. */
export class SandboxFileError extends NestboxError {
  readonly path: string;
  constructor(message: string, path: string) {
    super('FILE_IO', message);
    this.path = path;
  }
}
