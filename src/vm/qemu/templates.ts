import { existsSync } from 'node:fs';
import type { Container } from '../../core/container.js';
import { InvalidArgumentError, NotFoundError } from '../../core/errors.js';
import { buildTemplate } from './template-build.js';
import { TemplateStore, TemplateUnusable, type TemplateManifest, type TemplateSpec } from './template-store.js';

/** `NESTBOX_DEBUG=1`: say on stderr why a sandbox booted instead of being restored. */
export function templateDebug(message: string): void {
  if (process.env.NESTBOX_DEBUG && process.env.NESTBOX_DEBUG !== '0') process.stderr.write(`nestbox: template: ${message}\n`);
}

export interface TemplateInfo extends TemplateManifest {
  /** Bytes on the host (allocated). */
  diskBytes: number;
}

/**
 * The policy around templates: which sandboxes use them, building one on first use (once, under
 * a lock, even with concurrent first runs), and what happens to a bad one (it is removed, the
 * sandbox boots; the next run builds a new one).
 */
export class VmTemplates {
  readonly store: TemplateStore;

  constructor(dir: string) {
    this.store = new TemplateStore(dir);
  }

  /** Templates are on unless `NESTBOX_TEMPLATES=0`, `--no-template`, or the root is read-only (no writable disk to attach). */
  wanted(c: Container): boolean {
    return process.env.NESTBOX_TEMPLATES !== '0' && c.config.template !== false && !c.config.readOnly;
  }

  /**
   * The usable template for `spec`, building it when there is none. Throws TemplateUnusable when
   * the sandbox must boot instead (a broken template is removed first).
   */
  async ensure(spec: TemplateSpec): Promise<{ key: string; dir: string }> {
    const key = this.store.keyFor(spec);
    const dir = this.store.pathOf(key);
    if (existsSync(dir)) {
      try {
        await this.store.open(key, spec);
        return { key, dir };
      } catch (err) {
        if (!(err instanceof TemplateUnusable)) throw err;
        await this.discardLocked(key);
        throw err;
      }
    }
    const failed = await this.store.recentFailure(key);
    if (failed) throw new TemplateUnusable(`building template ${key} failed recently (${failed}); \`nestbox template create\` retries`);
    await this.build(spec, key, false);
    return { key, dir };
  }

  /** Build (or with `force`, rebuild) the template for `spec` under its lock. */
  async build(spec: TemplateSpec, key = this.store.keyFor(spec), force = true): Promise<TemplateManifest> {
    const lock = await this.store.lock(key);
    try {
      // another process may have built it while we waited for the lock
      if (!force) {
        const ready = await this.store.open(key, spec).catch(() => undefined);
        if (ready) return ready;
      }
      templateDebug(`building template ${key} for ${spec.image} (${spec.memoryMiB} MiB, ${spec.cpus} CPU)`);
      let manifest: TemplateManifest;
      try {
        manifest = await buildTemplate(this.store, key, spec);
      } catch (err) {
        await this.store.recordFailure(key, (err as Error).message);
        throw new TemplateUnusable(`building template ${key} failed: ${(err as Error).message}`);
      }
      await this.store.recordFailure(key, undefined);
      for (const old of await this.store.superseded(spec, key)) await this.discardLocked(old);
      return manifest;
    } finally {
      await lock.release();
    }
  }

  /** A restore from `key` failed after its files checked out: the template itself is bad. */
  async discardBroken(key: string, why: string): Promise<void> {
    templateDebug(`removing template ${key}: ${why}`);
    await this.discardLocked(key);
  }

  private async discardLocked(key: string): Promise<void> {
    const lock = await this.store.lock(key, 60_000);
    try {
      await this.store.discard(key);
    } finally {
      await lock.release();
    }
  }

  async list(): Promise<TemplateInfo[]> {
    return Promise.all((await this.store.list()).map(async (m) => ({ ...m, diskBytes: await this.store.diskUsage(m.key) })));
  }

  /** Keys of the templates `ref` names: a key (or a unique prefix of 4+ digits), else every template of image `imageId`. */
  async resolve(ref: string, imageId?: string): Promise<string[]> {
    const all = await this.store.list();
    if (/^[0-9a-f]{4,16}$/.test(ref)) {
      const byKey = all.filter((m) => m.key.startsWith(ref));
      if (byKey.length > 1) throw new InvalidArgumentError(`template key prefix ${ref} is ambiguous: give more digits`);
      if (byKey.length === 1) return [byKey[0]!.key];
    }
    const byImage = imageId ? all.filter((m) => m.imageId === imageId) : [];
    if (!byImage.length) throw new NotFoundError('template', ref, 'see `nestbox template ls`');
    return byImage.map((m) => m.key);
  }

  async remove(keys: string[]): Promise<void> {
    for (const key of keys) await this.discardLocked(key);
  }
}
