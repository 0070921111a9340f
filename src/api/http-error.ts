import { httpStatusOf, NestboxError } from '../core/errors.js';

/** A failure that belongs to the HTTP layer itself (bad query, body too large, unknown route). */
export class ApiError extends Error {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

/**
 * Status and `{"message": …}` text for any error, as dockerd reports it, plus nestbox's stable
 * `code` (an extra field Docker clients ignore; the SDK maps it back to the same error).
 */
export function errorReply(err: unknown): { status: number; message: string; code?: string } {
  if (err instanceof ApiError) return { status: err.status, message: err.message };
  if (err instanceof NestboxError) return { status: httpStatusOf(err), message: err.message, code: err.code };
  return { status: 500, message: (err as Error)?.message ?? String(err) };
}
