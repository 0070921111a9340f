import { BackendError, ConflictError, ImageError, InvalidArgumentError, NestboxError, NotFoundError, RegistryError } from '../core/errors.js';

/**
 * An error reply of `nestbox serve` (`{"message", "code"?}` with dockerd's statuses) back into the
 * NestboxError subclass the server threw, so callers see the same class and `code` as in-process.
 * `code` is nestbox's own field; without it (another server), the class's default code is used.
 */
export function errorFromReply(status: number, body: Buffer, route: string): NestboxError {
  let message = body.toString('utf8').trim() || `HTTP ${status}`;
  let code: string | undefined;
  try {
    const json = JSON.parse(message) as { message?: unknown; code?: unknown };
    if (typeof json.message === 'string') message = json.message;
    if (typeof json.code === 'string') code = json.code;
  } catch {
    // not JSON: keep the text
  }
  let err: NestboxError;
  if (code?.startsWith('REGISTRY_')) err = new RegistryError(message, code);
  else if (code?.startsWith('IMAGE_') && code !== 'IMAGE_NOT_FOUND') err = new ImageError(message, code);
  else if (status === 404) err = notFound(message, route);
  else if (status === 409) err = new ConflictError(message, code ?? 'CONFLICT');
  else if (status === 400 || status === 413) err = new InvalidArgumentError(message);
  else err = new BackendError(message, code ?? (status === 501 ? 'NOT_IMPLEMENTED' : 'BACKEND_FAILED'));
  err.message = message;
  return err;
}

function notFound(message: string, route: string): NotFoundError {
  const m = /^no such (container|image|exec|file): (.*)$/s.exec(message);
  if (m) return new NotFoundError(m[1] as 'container' | 'image' | 'exec' | 'file', m[2]!);
  const what = route.startsWith('/exec/') ? 'exec' : route.startsWith('/images/') ? 'image' : 'container';
  return new NotFoundError(what, route.split('/')[2] ?? route);
}
