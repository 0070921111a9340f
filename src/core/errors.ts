/**
 * One base class with a stable `code`; a subclass per failure a caller can act on.
 * Exit codes and HTTP statuses are mapped in one place: `exitCodeOf` / `httpStatusOf`.
 */
export class NestboxError extends Error {
  readonly code: string;
  constructor(code: string, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.code = code;
    this.name = new.target.name;
  }
}

/** The user asked for something that does not exist (container, image, exec session). */
export class NotFoundError extends NestboxError {
  constructor(what: 'container' | 'image' | 'exec' | 'file' | 'template' | 'volume' | 'network' | 'migration', subject: string, hint?: string) {
    super(`${what.toUpperCase()}_NOT_FOUND`, `no such ${what}: ${subject}${hint ? ` (${hint})` : ''}`);
  }
}

/** The request is malformed: bad flag value, bad reference, bad option combination. */
export class InvalidArgumentError extends NestboxError {
  constructor(message: string) {
    super('INVALID_ARGUMENT', message);
  }
}

/** The action is not legal in the sandbox's current state, or a name is taken. */
export class ConflictError extends NestboxError {
  constructor(message: string, code = 'CONFLICT') {
    super(code, message);
  }
}

/** An image, layer or archive is malformed or hostile. */
export class ImageError extends NestboxError {
  constructor(message: string, code = 'IMAGE_INVALID', options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/**
 * A registry refused, failed or answered something nestbox cannot accept. Codes:
 * REGISTRY_UNAUTHORIZED, REGISTRY_DENIED, REGISTRY_UNAVAILABLE (5xx, timeout, unreachable),
 * REGISTRY_PROTOCOL (a malformed or oversized answer), REGISTRY_INSECURE.
 */
export class RegistryError extends NestboxError {
  constructor(message: string, code = 'REGISTRY_PROTOCOL', options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The guest said something that breaks the protocol: the sandbox fails, the host does not. */
export class GuestProtocolError extends NestboxError {
  constructor(message: string) {
    super('GUEST_PROTOCOL', message);
  }
}

/** A host component (QEMU, runc, mkfs) failed or is missing. */
export class BackendError extends NestboxError {
  constructor(message: string, code = 'BACKEND_FAILED', options?: { cause?: unknown }) {
    super(code, message, options);
  }
}

/** The container's command could not be run: 126 (cannot execute) or 127 (not found). */
export class CommandError extends NestboxError {
  readonly exitCode: 126 | 127;
  constructor(exitCode: 126 | 127, message: string) {
    super(exitCode === 127 ? 'COMMAND_NOT_FOUND' : 'COMMAND_NOT_EXECUTABLE', message);
    this.exitCode = exitCode;
  }
}

/** Docker's convention: nestbox's own failures exit 125. */
export function exitCodeOf(err: unknown): number {
  if (err instanceof CommandError) return err.exitCode;
  return 125;
}

export function httpStatusOf(err: unknown): number {
  if (err instanceof NotFoundError || (err instanceof RegistryError && err.code === 'REGISTRY_NOT_FOUND')) return 404;
  if (err instanceof InvalidArgumentError || err instanceof ImageError) return 400;
  if (err instanceof ConflictError) return 409;
  // a checkpoint (or a migration's upload) that is corrupt or made for another host: the input is wrong
  if (err instanceof NestboxError && (err.code === 'CHECKPOINT_CORRUPT' || err.code === 'CHECKPOINT_FOREIGN')) return 400;
  if (err instanceof RegistryError && (err.code === 'REGISTRY_UNAUTHORIZED' || err.code === 'REGISTRY_DENIED')) return 403;
  // the registry failed, not us: a gateway error
  if (err instanceof RegistryError) return 502;
  return 500;
}

/** Message for a failed system call, naming the operation and the subject: ``open `/x`: no such file``. */
export function describeSysError(op: string, subject: string, err: unknown): string {
  const e = err as NodeJS.ErrnoException;
  const why = e?.code === 'ENOENT' ? 'no such file or directory' : e?.code === 'EACCES' ? 'permission denied' : (e?.message ?? String(err));
  return `${op} \`${subject}\`: ${why}`;
}
