import { randomBytes, randomInt } from 'node:crypto';

const ADJECTIVES = ['brave', 'calm', 'eager', 'fancy', 'gentle', 'happy', 'jolly', 'keen', 'lucid', 'merry', 'nimble', 'quiet', 'rapid', 'sharp', 'tidy', 'vivid', 'witty', 'zen'];
const NOUNS = ['wren', 'finch', 'robin', 'swift', 'heron', 'owl', 'lark', 'kite', 'crane', 'tern', 'dove', 'jay', 'martin', 'plover', 'raven', 'stork'];

export const newContainerId = () => randomBytes(32).toString('hex');

/** A Docker-style `adjective_noun` name; the store's O_EXCL name file settles any collision. */
export function randomName(): string {
  return `${ADJECTIVES[randomInt(ADJECTIVES.length)]}_${NOUNS[randomInt(NOUNS.length)]}${randomInt(100)}`;
}
