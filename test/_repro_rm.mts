import { Engine } from '../src/core/engine.js';
const e = new Engine({ root: process.argv[2] });
for (const c of await e.list({ all: true })) { await e.remove(c.config.id, { force: true }); console.log('removed', c.config.id); }
