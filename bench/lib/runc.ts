import { existsSync, promises as fs } from 'node:fs';
import * as path from 'node:path';
import { rmdirTree } from './podman.js';
import { sh } from './timing.js';

/** Bare runc with its own state dir; container ids start with `nbb-` (also their cgroup names). */
export class BareRunc {
  private readonly ids = new Set<string>();
  private n = 0;

  constructor(readonly stateDir: string) {}

  /** `runc --root <stateDir> …` */
  args(extra: string[]): string[] {
    return ['--root', this.stateDir, ...extra];
  }

  newId(tag: string): string {
    const id = `nbb-${tag}-${process.pid}-${++this.n}`;
    this.ids.add(id);
    return id;
  }

  /**
   * A bundle whose read-only root is `rootfs` (the image's unpacked rootfs from nestbox's store,
   * so all three runtimes run the same files) and whose process is `args`: `runc spec` defaults.
   */
  async bundle(dir: string, rootfs: string, args: string[]): Promise<string> {
    await fs.mkdir(dir, { recursive: true });
    await fs.rm(path.join(dir, 'config.json'), { force: true });
    await sh('runc', ['spec', '--bundle', dir]);
    const spec = JSON.parse(await fs.readFile(path.join(dir, 'config.json'), 'utf8'));
    spec.process.terminal = false;
    spec.process.args = args;
    spec.root = { path: rootfs, readonly: true };
    spec.hostname = 'nbb';
    await fs.writeFile(path.join(dir, 'config.json'), JSON.stringify(spec, null, 2));
    return dir;
  }

  /** Kill and delete every container we made; remove cgroups named after them. */
  async teardown(): Promise<string[]> {
    const notes: string[] = [];
    for (const id of this.ids) {
      if (existsSync(path.join(this.stateDir, id))) {
        await sh('runc', this.args(['kill', id, 'KILL'])).catch(() => undefined);
        await sh('runc', this.args(['delete', '--force', id])).catch((e: Error) => notes.push(`runc delete ${id}: ${e.message}`));
      }
    }
    const hierarchies = ['', ...(await fs.readdir('/sys/fs/cgroup').catch(() => []))];
    for (const h of hierarchies) {
      for (const id of this.ids) {
        const cg = path.join('/sys/fs/cgroup', h, id);
        if (existsSync(cg)) {
          const err = await rmdirTree(cg);
          notes.push(`leftover cgroup ${cg}${err ? `: ${err}` : ' removed'}`);
        }
      }
    }
    return notes;
  }
}
