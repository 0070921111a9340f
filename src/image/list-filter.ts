/**
 * `images --filter`: `dangling=true|false` and `reference=PATTERN` (a glob as in Go's path.Match,
 * tried against the familiar name and name:tag, e.g. `busybox`, `myorg/*:1.*`). Several
 * references match any of them; different keys must all match. Applied per listed name.
 */
import { InvalidArgumentError } from '../core/errors.js';
import { familiar } from './reference.js';
import type { ImageRecord } from './types.js';

export interface ImageFilter {
  dangling?: boolean;
  references: RegExp[];
}

export function parseImageFilter(specs: readonly string[]): ImageFilter {
  const filter: ImageFilter = { references: [] };
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    const key = eq === -1 ? spec : spec.slice(0, eq);
    const value = eq === -1 ? '' : spec.slice(eq + 1);
    if (key === 'dangling') {
      if (value !== 'true' && value !== 'false') throw new InvalidArgumentError(`invalid filter "${spec}": dangling takes true or false`);
      filter.dangling = value === 'true';
    } else if (key === 'reference') {
      if (value === '') throw new InvalidArgumentError(`invalid filter "${spec}": reference needs a pattern, e.g. reference=busybox`);
      filter.references.push(globRegExp(value, spec));
    } else {
      throw new InvalidArgumentError(`invalid filter "${key}": use dangling=true|false or reference=PATTERN`);
    }
  }
  return filter;
}

/** Whether the listing row of `image` under `tag` (a normalised reference, or none) passes. */
export function matchesImageFilter(filter: ImageFilter, image: ImageRecord, tag: string | undefined): boolean {
  if (filter.dangling !== undefined && filter.dangling !== (image.repoTags.length === 0)) return false;
  if (filter.references.length === 0) return true;
  if (tag === undefined) return false;
  const full = familiar(tag);
  const name = full.slice(0, full.lastIndexOf(':'));
  return filter.references.some((re) => re.test(name) || re.test(full));
}

/** Go's path.Match syntax: `*` and `?` stop at `/`, `[...]` classes (`^` negates), `\` escapes. */
function globRegExp(pattern: string, spec: string): RegExp {
  const escape = (ch: string) => ch.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const ch = pattern[i]!;
    if (ch === '*') re += '[^/]*';
    else if (ch === '?') re += '[^/]';
    else if (ch === '\\' && i + 1 < pattern.length) re += escape(pattern[++i]!);
    else if (ch === '[') {
      const end = pattern.indexOf(']', i + 2);
      if (end === -1) throw new InvalidArgumentError(`invalid filter "${spec}": unclosed [ in the pattern`);
      const body = pattern.slice(i + 1, end);
      const negated = body.startsWith('^');
      re += `[${negated ? '^' : ''}${(negated ? body.slice(1) : body).replace(/[\\\]]/g, '\\$&')}]`;
      i = end;
    } else re += escape(ch);
  }
  return new RegExp(`^${re}$`);
}
