'use strict';
// Start-up loader for a bundled command (written into dist/ by scripts/build.mjs, which fills in
// the bundle's file name). It compiles the bundle with the V8 code cache that the build made beside it, so a
// command does not parse and compile ~0.7 MB of JavaScript at every start. Node 20 has no
// compile cache of its own (module.enableCompileCache came in Node 22). A cache that does not
// match this node binary or the bundle is rejected by V8, and the bundle is then compiled as usual.
const fs = require('node:fs');
const path = require('node:path');
const vm = require('node:vm');
const { createRequire, wrap } = require('node:module');

const file = path.join(__dirname, '__BUNDLE__');
const cacheFile = `${file}.cache`;
let cachedData;
try {
  cachedData = fs.readFileSync(cacheFile);
} catch {
  cachedData = undefined;
}
const script = new vm.Script(wrap(fs.readFileSync(file, 'utf8')), {
  filename: file,
  cachedData,
});
// The build runs each command once with this set: the cache then also holds the functions that
// run compiled, not only the top level.
if (process.env.NESTBOX_WRITE_CODE_CACHE === '1') {
  process.once('exit', () => fs.writeFileSync(cacheFile, script.createCachedData()));
}
const module_ = { exports: {} };
script.runInThisContext().call(module_.exports, module_.exports, createRequire(file), module_, file, __dirname);
