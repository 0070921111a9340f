// Bundle the CLI into one file (fast start-up: one module to load, no TypeScript at run time).
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  sourcemap: 'linked',
  define: { __NESTBOX_VERSION__: JSON.stringify(pkg.version) },
  banner: { js: "import { createRequire as __nbRequire } from 'node:module'; const require = __nbRequire(import.meta.url);" },
  logLevel: 'warning',
};
await build({ ...common, entryPoints: ['src/cli/bin.ts'], outfile: 'dist/cli.js' });
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.js' });
