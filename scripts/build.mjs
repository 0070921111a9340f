// Bundle the CLI into one file (fast start-up: one module to load, no TypeScript at run time).
import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  format: 'esm',
  // external: the map is written, but no sourceMappingURL comment makes Node look for it at
  // every start (measured: ~50 ms of the CLI's start-up went to source map handling)
  sourcemap: 'external',
  define: { __NESTBOX_VERSION__: JSON.stringify(pkg.version) },
  banner: { js: "import { createRequire as __nbRequire } from 'node:module'; const require = __nbRequire(import.meta.url);" },
  logLevel: 'warning',
};
// The CLI: split, so a command loads only the modules it reaches (the engine, registry client and
// API server are imported when a command needs them).
await build({ ...common, entryPoints: { cli: 'src/cli/bin.ts' }, outdir: 'dist', splitting: true, chunkNames: 'chunks/[name]-[hash]' });
await build({ ...common, entryPoints: ['src/index.ts'], outfile: 'dist/index.js' });
// The OCI runtime CLI (bin/nestbox-runtime): split, so each command loads only its own code.
await build({
  ...common,
  entryPoints: { bin: 'src/runtime/bin.ts' },
  outdir: 'dist/runtime',
  splitting: true,
  define: { ...common.define, __NESTBOX_COMMIT__: JSON.stringify(gitCommit()) },
});

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}
