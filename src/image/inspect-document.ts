/** Docker's image inspect document for a stored image: one shape for the CLI and the API server. */
import { familiar } from './reference.js';
import { MEDIA } from './oci.js';
import type { ImageRecord } from './types.js';

export function imageInspectDocument(i: ImageRecord): Record<string, unknown> {
  const c = i.config;
  return {
    Id: i.id,
    RepoTags: i.repoTags.map((t) => familiar(t)),
    RepoDigests: (i.repoDigests ?? []).map((d) => familiar(d)),
    Parent: '',
    Comment: '',
    Created: i.created ?? '',
    DockerVersion: '',
    Author: '',
    Config: {
      User: c.User ?? '',
      // omitted when empty, as dockerd does
      ...(c.ExposedPorts ? { ExposedPorts: c.ExposedPorts } : {}),
      Env: c.Env ?? [],
      Cmd: c.Cmd ?? null,
      WorkingDir: c.WorkingDir ?? '',
      Entrypoint: c.Entrypoint ?? null,
      Labels: c.Labels ?? null,
      ...(c.StopSignal ? { StopSignal: c.StopSignal } : {}),
    },
    Architecture: i.architecture,
    Os: i.os,
    Size: i.size,
    RootFS: { Type: 'layers', Layers: i.diffIds },
    Metadata: { LastTagTime: '0001-01-01T00:00:00Z' },
    Descriptor: { mediaType: MEDIA.ociManifest, digest: i.manifestDigest },
  };
}
