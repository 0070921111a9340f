/** The parts of a runtime-spec config.json (and process.json) that nestbox-runtime reads. */
export interface OciProcess {
  terminal?: boolean;
  user?: { uid?: number; gid?: number; additionalGids?: number[]; username?: string };
  args?: string[];
  commandLine?: string;
  env?: string[];
  cwd?: string;
  rlimits?: { type: string; hard: number; soft: number }[];
  noNewPrivileges?: boolean;
}

export interface OciMount {
  destination: string;
  type?: string;
  source?: string;
  options?: string[];
}

export interface OciConfig {
  ociVersion?: string;
  process?: OciProcess;
  root?: { path?: string; readonly?: boolean };
  hostname?: string;
  mounts?: OciMount[];
  annotations?: Record<string, string>;
  linux?: { resources?: { memory?: { limit?: number }; cpu?: { quota?: number; period?: number } } };
}
