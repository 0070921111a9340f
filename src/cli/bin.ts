import { main } from './main.js';
import { restoreArgv } from './argv.js';

await main(restoreArgv(process.argv.slice(2)));
