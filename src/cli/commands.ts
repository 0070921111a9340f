import type { Command } from 'commander';
import * as run from './commands/run.js';
import * as create from './commands/create.js';
import * as start from './commands/start.js';
import * as ps from './commands/ps.js';
import * as logs from './commands/logs.js';
import * as exec from './commands/exec.js';
import * as stop from './commands/stop.js';
import * as kill from './commands/kill.js';
import * as rm from './commands/rm.js';
import * as wait from './commands/wait.js';
import * as inspect from './commands/inspect.js';
import * as load from './commands/load.js';
import * as images from './commands/images.js';
import * as rmi from './commands/rmi.js';
import * as save from './commands/save.js';
import * as tag from './commands/tag.js';
import * as image from './commands/image.js';
import * as info from './commands/info.js';
import * as version from './commands/version.js';
import * as serve from './commands/serve.js';
import * as pull from './commands/pull.js';
import * as volume from './commands/volume.js';
import * as push from './commands/push.js';
import * as login from './commands/login.js';
import * as pause from './commands/pause.js';
import * as unpause from './commands/unpause.js';
import * as template from './commands/template.js';
import * as network from './commands/network.js';
import * as port from './commands/port.js';
import * as checkpoint from './commands/checkpoint.js';
import * as restore from './commands/restore.js';
import * as fork from './commands/fork.js';
import * as migrate from './commands/migrate.js';

/** The command table: each entry is a thin file that parses flags, calls the core and prints. */
export const COMMANDS: ReadonlyArray<{ register(program: Command): void }> = [
  run, create, start, ps, logs, exec, stop, kill, rm, wait, inspect, load, save, images, rmi, tag, image, info, version, serve, pull, push, login, pause, unpause, template, checkpoint, restore, fork, migrate, volume, network, port,
];
