import { InvalidArgumentError } from '../core/errors.js';
import type { IsolationChoice, RuntimeContext } from './context.js';
import { ANNOTATION_ISOLATION } from './vm-size.js';

/** The bundle's annotation wins, then `--isolation` / NESTBOX_RUNTIME_ISOLATION, then vm. */
export function isolationOf(ctx: RuntimeContext, annotations: Record<string, string>): IsolationChoice {
  const a = annotations[ANNOTATION_ISOLATION];
  if (a !== undefined && a !== 'vm' && a !== 'process') throw new InvalidArgumentError(`annotation ${ANNOTATION_ISOLATION}="${a}": use vm or process`);
  return a ?? ctx.isolation ?? 'vm';
}
