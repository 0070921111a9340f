// Runs the test suite with node's test runner. `node scripts/test.mjs [unit|integration] [files…]`
import { spawnSync } from 'node:child_process';
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';

function find(dir) {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) return name === 'helpers' ? [] : find(p);
    return p.endsWith('.test.ts') ? [p] : [];
  });
}

const args = process.argv.slice(2);
const kind = args[0] === 'unit' || args[0] === 'integration' ? args.shift() : undefined;
let files = args.length ? args : find('test');
if (kind === 'unit') files = files.filter((f) => !f.includes('integration'));
if (kind === 'integration') files = files.filter((f) => f.includes('integration'));
const r = spawnSync(process.execPath, ['--import', 'tsx', '--test', '--test-concurrency=3', '--test-reporter=spec', ...files], { stdio: 'inherit' });
process.exit(r.status ?? 1);
