/** The parts of an OCI image config that decide how a container runs. */
export interface ImageRunConfig {
  Cmd?: string[];
  Entrypoint?: string[];
  Env?: string[];
  WorkingDir?: string;
  User?: string;
  Labels?: Record<string, string>;
  ExposedPorts?: Record<string, object>;
  StopSignal?: string;
}

/** One image in the store, as listed by `images` and used by `run`. */
export interface ImageRecord {
  /** Config digest, `sha256:<64 hex>` — the image ID, as Docker reports it. */
  id: string;
  /** Normalised references pointing at it, e.g. `docker.io/library/busybox:latest`. */
  repoTags: string[];
  /** `name@sha256:…` of the manifest or index it was pulled by or pushed as (Docker's RepoDigests). */
  repoDigests?: string[];
  /** Digest of the manifest the image was loaded/pulled from. */
  manifestDigest: string;
  /** Uncompressed layer digests (config `rootfs.diff_ids`), bottom first. */
  diffIds: string[];
  /** Chain ID of the top layer: the cache key of unpacked rootfs and disks. */
  chainId: string;
  config: ImageRunConfig;
  architecture: string;
  os: string;
  created?: string;
  /** Sum of uncompressed layer sizes in bytes. */
  size: number;
}
