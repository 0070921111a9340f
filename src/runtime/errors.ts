import { NestboxError } from '../core/errors.js';

/** The bundle cannot be run: no or malformed config.json, no rootfs, an unusable process. */
export class BundleError extends NestboxError {
  constructor(message: string) {
    super('BUNDLE_INVALID', message);
  }
}

/** No container by that ID under this root. Worded as runc words it: callers match "does not exist". */
export class ContainerNotFoundError extends NestboxError {
  constructor(id: string, hint?: string) {
    super('CONTAINER_NOT_FOUND', `container "${id}" does not exist${hint ? ` (${hint})` : ''}`);
  }
}
