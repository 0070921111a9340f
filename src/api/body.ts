import type { Readable } from 'node:stream';
import { ApiError } from './http-error.js';

export const MAX_BODY_BYTES = 1024 * 1024;

/** The whole request body, refusing more than `limit` bytes (413) before buffering it. */
export async function readBody(req: Readable & { headers: Record<string, string | string[] | undefined> }, limit = MAX_BODY_BYTES): Promise<Buffer> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > limit) throw new ApiError(413, `request body of ${declared} bytes exceeds the limit of ${limit} bytes`);
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req) {
    size += (chunk as Buffer).length;
    if (size > limit) throw new ApiError(413, `request body exceeds the limit of ${limit} bytes`);
    chunks.push(chunk as Buffer);
  }
  return Buffer.concat(chunks);
}

/** JSON object from a body; an empty body is `{}` unless `required`. Malformed JSON is a 400. */
export function parseJsonObject(body: Buffer, required = false): Record<string, unknown> {
  const text = body.toString('utf8').trim();
  if (text === '') {
    if (required) throw new ApiError(400, 'invalid JSON: got EOF while reading request body');
    return {};
  }
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (err) {
    throw new ApiError(400, `invalid JSON: ${(err as Error).message}`);
  }
  if (value === null || typeof value !== 'object' || Array.isArray(value)) throw new ApiError(400, 'invalid JSON: expected an object');
  return value as Record<string, unknown>;
}
