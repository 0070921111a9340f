import { DEFAULT_MEMORY_MIB, parseCpus, parseMemory } from '../core/create-spec.js';
import { BundleError } from './errors.js';
import type { OciConfig } from './oci-config.js';

export const ANNOTATION_ISOLATION = 'io.nestbox.isolation';
export const ANNOTATION_MEMORY = 'io.nestbox.memory';
export const ANNOTATION_CPUS = 'io.nestbox.cpus';

/**
 * The VM's size: the io.nestbox.memory / io.nestbox.cpus annotations, else the container's own
 * memory limit and CPU quota (a Kubernetes pod's resources), else the defaults (256 MiB, 1 vCPU).
 */
export function vmSize(config: OciConfig, annotations: Record<string, string>): { memoryMiB: number; cpus: number } {
  let memoryMiB = DEFAULT_MEMORY_MIB;
  let cpus = 1;
  try {
    const mem = annotations[ANNOTATION_MEMORY];
    const limit = config.linux?.resources?.memory?.limit;
    if (mem !== undefined) memoryMiB = parseMemory(mem);
    else if (typeof limit === 'number' && limit >= 128 * 1024 ** 2) memoryMiB = Math.min(Math.floor(limit / 1024 ** 2), 64 * 1024);
    const c = annotations[ANNOTATION_CPUS];
    const cpu = config.linux?.resources?.cpu;
    if (c !== undefined) cpus = parseCpus(c);
    else if (cpu?.quota && cpu.period && cpu.quota > 0 && cpu.period > 0) cpus = Math.min(Math.ceil(cpu.quota / cpu.period), 64);
  } catch (err) {
    throw new BundleError(`annotation: ${(err as Error).message.replace('--memory', ANNOTATION_MEMORY).replace('--cpus', ANNOTATION_CPUS)}`);
  }
  return { memoryMiB, cpus };
}
