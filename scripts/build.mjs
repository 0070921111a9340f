// Bundle the CLIs (fast start-up: one file each, compiled from a V8 code cache, no TypeScript at
// run time) and the library.
import { build } from 'esbuild';
import { existsSync, mkdtempSync, readFileSync, writeFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import * as path from 'node:path';
import { execFileSync } from 'node:child_process';

const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const common = {
  bundle: true,
  platform: 'node',
  target: 'node20',
  // external: the map is written, but no sourceMappingURL comment makes Node look for it at
  // every start (measured: ~50 ms of the CLI's start-up went to source map handling)
  sourcemap: 'external',
  define: { __NESTBOX_VERSION__: JSON.stringify(pkg.version) },
  logLevel: 'warning',
};

// dist/ holds only this build's files (split chunks of older builds piled up there)
rmSync(new URL('../dist', import.meta.url), { recursive: true, force: true });

// The library (the SDK and the engine for programs that import nestbox): ESM, like the package.
await build({
  ...common,
  format: 'esm',
  entryPoints: ['src/index.ts'],
  outfile: 'dist/index.js',
  banner: { js: "import { createRequire as __nbRequire } from 'node:module'; const require = __nbRequire(import.meta.url);" },
});

// The two command lines: one CommonJS bundle each plus a loader that compiles it from a code
// cache. CommonJS because V8's code cache is reachable for scripts (vm.Script) and not for ES
// modules; one file because a split ESM build spent its start-up linking modules.
// Measured on the 2-core machine: `nestbox --version` 95 ms (split ESM) → 60 ms; node -e 0 30 ms.
const clis = [
  { name: 'cli', entry: 'src/cli/bin.ts', define: {} },
  { name: 'runtime', entry: 'src/runtime/bin.ts', define: { __NESTBOX_COMMIT__: JSON.stringify(gitCommit()) } },
];
const loader = readFileSync(new URL('./code-cache-loader.cjs', import.meta.url), 'utf8');
for (const cli of clis) {
  const bundle = `${cli.name}.bundle.cjs`;
  await build({
    ...common,
    format: 'cjs',
    entryPoints: [cli.entry],
    // undici (~0.8 MB) is only needed to trust deferred CA certificates (src/registry/extra-ca.ts):
    // loaded from node_modules then, instead of weighing on every start
    external: ['undici'],
    // import() of node builtins and undici becomes require(): a script compiled from a code cache
    // has no dynamic-import callback in Node 20
    supported: { 'dynamic-import': false },
    // smaller to read and to deserialize; identifiers are kept, so stack traces still name functions
    minifyWhitespace: true,
    minifySyntax: true,
    outfile: `dist/${bundle}`,
    define: { ...common.define, ...cli.define, 'import.meta.url': '__nbImportMetaUrl' },
    banner: { js: "const __nbImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  });
  writeFileSync(`dist/${cli.name}.cjs`, loader.replaceAll('__BUNDLE__', bundle));
  // the code cache: made by running the command once (its top level and argument parsing)
  writeCodeCache(cli.name, ['--version']);
}
trainCliCache();

/** Run `dist/NAME.cjs ARGS` so that its loader writes the code cache of what that run compiled. */
function writeCodeCache(name, args, env = {}) {
  execFileSync(process.execPath, [`dist/${name}.cjs`, ...args], {
    env: { ...process.env, ...env, NESTBOX_WRITE_CODE_CACHE: '1', NESTBOX_DEFERRED_CA_CERTS: '', NODE_EXTRA_CA_CERTS: '' },
    stdio: 'ignore',
    timeout: 60_000,
  });
}

/**
 * When this machine can run a process container (root, runc, the set-up's shim and busybox
 * image), the CLI's cache is made by a real `run --rm --isolation=process` in a scratch state
 * root instead: it then also holds the engine functions a run compiles (~10 ms of a ~200 ms run).
 * Anything missing or failing leaves the `--version` cache in place.
 */
function trainCliCache() {
  const image = 'build/images/busybox.oci.tar';
  if (process.getuid?.() !== 0 || !existsSync(image) || !existsSync('build/guest/nestbox-shim')) return;
  const root = mkdtempSync(path.join(tmpdir(), 'nestbox-build-'));
  try {
    execFileSync(process.execPath, ['dist/cli.cjs', '--root', root, 'load', '-i', image], { stdio: 'ignore', timeout: 60_000 });
    writeCodeCache('cli', ['--root', root, 'run', '--rm', '--isolation=process', '--network', 'none', 'busybox', 'true']);
  } catch (err) {
    console.warn(`build: code cache from --version only (a training run failed: ${err.message.split('\n')[0]})`);
    writeCodeCache('cli', ['--version']);
  } finally {
    rmSync(root, { recursive: true, force: true });
  }
}

function gitCommit() {
  try {
    return execFileSync('git', ['rev-parse', '--short=12', 'HEAD'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] }).trim();
  } catch {
    return 'unknown';
  }
}
