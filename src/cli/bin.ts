import { main } from './main.js';
import { restoreArgv } from './argv.js';
import { restoreExtraCaEnv } from '../registry/extra-ca.js';

restoreExtraCaEnv();

// `nestbox ps | head -1`: a reader that stops reading is not an error (as in any Unix tool).
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (err: NodeJS.ErrnoException) => {
    // a command streaming into stdout (save) has its own listener and reports it itself
    if (stream.listenerCount('error') > 1) return;
    if (err.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    throw err;
  });
}

// main reports its own errors and sets process.exitCode (no top-level await: this is bundled as CommonJS)
void main(restoreArgv(process.argv.slice(2)));
