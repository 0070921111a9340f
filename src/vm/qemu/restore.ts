import { promises as fs } from 'node:fs';
import * as path from 'node:path';
import type { Launched } from '../backend.js';
import { sandboxFiles } from '../sandbox-files.js';
import { TCG_TB_MIB, type QemuConfig } from './command.js';
import { launchFromState } from './checkpoint-launch.js';
import { copySparse } from './template-build.js';
import { TEMPLATE_FILES } from './template-store.js';
import { templateDebug } from './templates.js';

/** How long a restored guest has to answer HELLO before the template is judged broken. */
const HELLO_TIMEOUT_MS = Number(process.env.NESTBOX_TEMPLATE_HELLO_MS ?? 10_000);
/**
 * TCG's code cache for restored sandboxes (default: as for booted ones). A restored guest starts
 * with an empty cache and keeps what its start translates (~11.5 MiB for `busybox sleep`), which
 * is most of its own host memory; a smaller cache saves little more (11 MiB: −0.4 MiB per idle
 * sandbox) and is flushed by commands whose code does not fit. See docs/templates.md.
 */
export const RESTORED_TB_MIB = Number(process.env.NESTBOX_TEMPLATE_TB_MIB ?? TCG_TB_MIB);

/**
 * Start a sandbox from the template in `templateDir` (a prepared guest: root mounted, waiting for
 * RUN): a fresh copy of the template's writable disk,
 * the template's RAM file mapped privately (copy-on-write), its device state loaded, the guest
 * resumed and its agent's HELLO answered. `base` is the sandbox's own QEMU configuration: the
 * same devices as the template's, so the saved state fits. On failure nothing is left running
 * and the sandbox's writable disk is removed.
 */
export async function launchRestored(base: QemuConfig, templateDir: string): Promise<Launched> {
  const t0 = Date.now();
  const files = sandboxFiles(base.dir);
  await copySparse(path.join(templateDir, TEMPLATE_FILES.rwPristine), files.rwDisk);
  await fs.chmod(files.rwDisk, 0o600);
  try {
    const launched = await launchFromState(
      {
        ...base,
        ...(base.accel === 'tcg' ? { tbMiB: RESTORED_TB_MIB } : {}),
        ramFile: { path: path.join(templateDir, TEMPLATE_FILES.ram), share: false },
      },
      { stateFile: path.join(templateDir, TEMPLATE_FILES.state), ignoreShared: true, expectAgent: 'prepared', helloTimeoutMs: HELLO_TIMEOUT_MS },
    );
    templateDebug(`restored in ${Date.now() - t0} ms (state loaded and resumed after ${launched.loadedMs} ms)`);
    return launched;
  } catch (err) {
    await fs.rm(files.rwDisk, { force: true });
    throw err;
  }
}
