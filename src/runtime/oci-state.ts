import { OCI_VERSION } from './version.js';
import { liveStatus, type RuntimeRecord } from './state-store.js';

/** The runtime-spec state of a VM container, as `state` prints it. */
export function ociState(rec: RuntimeRecord) {
  const status = liveStatus(rec);
  return {
    ociVersion: OCI_VERSION,
    id: rec.id,
    pid: status === 'stopped' || status === 'creating' ? 0 : (rec.pid ?? 0),
    status,
    bundle: rec.bundle,
    rootfs: rec.rootfs,
    created: rec.created,
    owner: '',
    annotations: rec.annotations,
  };
}
