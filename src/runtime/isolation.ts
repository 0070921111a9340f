import { InvalidArgumentError } from '../core/errors.js';
import type { IsolationChoice, RuntimeContext } from './context.js';
import { ANNOTATION_ISOLATION } from './vm-size.js';

/**
 * A Kubernetes pod's sandbox ("pause") container only holds the pod's namespaces; containerd and
 * CRI-O mark it with these annotations. It runs under runc: a VM for it would cost a VM per pod
 * for nothing.
 */
const SANDBOX_MARKERS: [string, string][] = [
  ['io.kubernetes.cri.container-type', 'sandbox'],
  ['io.kubernetes.cri-o.ContainerType', 'sandbox'],
];

/** The bundle's annotation wins, then a pod sandbox goes to runc, then `--isolation` / NESTBOX_RUNTIME_ISOLATION, then vm. */
export function isolationOf(ctx: RuntimeContext, annotations: Record<string, string>): IsolationChoice {
  const a = annotations[ANNOTATION_ISOLATION];
  if (a !== undefined && a !== 'vm' && a !== 'process') throw new InvalidArgumentError(`annotation ${ANNOTATION_ISOLATION}="${a}": use vm or process`);
  if (a) return a;
  if (SANDBOX_MARKERS.some(([k, v]) => annotations[k] === v)) return 'process';
  return ctx.isolation ?? 'vm';
}
