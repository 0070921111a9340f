import { main } from './main.js';
import { restoreExtraCaEnv } from '../registry/extra-ca.js';

restoreExtraCaEnv();

// no top-level await: this is bundled as CommonJS (scripts/build.mjs)
void main(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});
