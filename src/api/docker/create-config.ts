import type { CreateOptions } from '../../core/create-spec.js';
import { MIN_MEMORY_MIB } from '../../core/create-spec.js';
import type { Isolation } from '../../core/container.js';
import { ApiError } from '../http-error.js';
import { mountsOf } from './create-mounts.js';
import { networkOptionsOf } from './networks.js';

/** `POST /containers/create` body → core CreateOptions (the parts nestbox supports). */
export interface CreateAction {
  options: CreateOptions;
  /** HostConfig.ConsoleSize [rows, cols] for a TTY (API ≥ 1.42). */
  consoleSize?: { rows: number; cols: number };
}

export function parseCreate(body: Record<string, unknown>, name: string | null): CreateAction {
  const hc = obj(body.HostConfig, 'HostConfig');
  const image = str(body.Image, 'Image');
  if (!image) throw new ApiError(400, 'config.Image is required: no image specified');
  const cmd = strList(body.Cmd, 'Cmd');
  const entry = strList(body.Entrypoint, 'Entrypoint');
  const options: CreateOptions = { image };
  // The core takes one entrypoint word; the rest of a longer Entrypoint goes before Cmd (same argv).
  if (entry !== undefined && entry.length > 0) {
    options.entrypoint = entry[0]!;
    const rest = [...entry.slice(1), ...(cmd ?? [])];
    if (rest.length) options.cmd = rest;
  } else if (cmd !== undefined) {
    options.cmd = cmd;
  }
  if (name) {
    if (!/^\/?[a-zA-Z0-9][a-zA-Z0-9_.-]+$/.test(name)) throw new ApiError(400, `Invalid container name (${name}), only [a-zA-Z0-9][a-zA-Z0-9_.-] are allowed`);
    options.name = name.replace(/^\//, '');
  }
  const env = strList(body.Env, 'Env');
  if (env) options.env = env;
  const set = <K extends keyof CreateOptions>(k: K, v: CreateOptions[K] | undefined) => {
    if (v !== undefined && v !== '') options[k] = v;
  };
  set('workdir', str(body.WorkingDir, 'WorkingDir'));
  set('user', str(body.User, 'User'));
  set('hostname', str(body.Hostname, 'Hostname'));
  set('tty', bool(body.Tty, 'Tty'));
  set('openStdin', bool(body.OpenStdin, 'OpenStdin'));
  set('isolation', isolation(str(hc.Isolation, 'HostConfig.Isolation')));
  set('readOnly', bool(hc.ReadonlyRootfs, 'HostConfig.ReadonlyRootfs'));
  set('autoRemove', bool(hc.AutoRemove, 'HostConfig.AutoRemove'));
  const memory = num(hc.Memory, 'HostConfig.Memory');
  if (memory) {
    const mib = Math.floor(memory / 1024 ** 2);
    if (mib < MIN_MEMORY_MIB) throw new ApiError(400, `Minimum memory limit allowed is ${MIN_MEMORY_MIB}MiB for a nestbox sandbox`);
    options.memoryMiB = mib;
  }
  const nano = num(hc.NanoCpus, 'HostConfig.NanoCpus');
  if (nano) {
    if (nano < 1e7 || nano > 64e9) throw new ApiError(400, `Range of CPUs is from 0.01 to 64.00`);
    options.cpus = Math.ceil(nano / 1e9);
    options.nanoCpus = nano;
  }
  const mounts = mountsOf(body, hc);
  if (mounts.length) options.mounts = mounts;
  Object.assign(options, networkOptionsOf(body, hc));
  const cs = hc.ConsoleSize;
  const action: CreateAction = { options };
  if (Array.isArray(cs) && cs.length === 2 && cs.every((n) => Number.isInteger(n) && n > 0 && n < 65536)) {
    action.consoleSize = { rows: cs[0] as number, cols: cs[1] as number };
  }
  return action;
}

/** Docker's `default` (and Windows' `hyperv`) mean a VM here; `process` means runc. */
function isolation(v: string | undefined): Isolation | undefined {
  if (v === undefined || v === '' || v === 'default' || v === 'vm' || v === 'hyperv') return v ? 'vm' : undefined;
  if (v === 'process') return 'process';
  throw new ApiError(400, `invalid isolation "${v}": nestbox supports default (vm), vm, hyperv (vm) and process`);
}

function obj(v: unknown, field: string): Record<string, unknown> {
  if (v === undefined || v === null) return {};
  if (typeof v !== 'object' || Array.isArray(v)) throw new ApiError(400, `invalid ${field}: expected an object`);
  return v as Record<string, unknown>;
}

function str(v: unknown, field: string): string | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'string') throw new ApiError(400, `invalid ${field}: expected a string`);
  return v;
}

function bool(v: unknown, field: string): boolean | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'boolean') throw new ApiError(400, `invalid ${field}: expected true or false`);
  return v;
}

function num(v: unknown, field: string): number | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v)) throw new ApiError(400, `invalid ${field}: expected a number`);
  return v;
}

/** Docker's StrSlice: a string or a list of strings. */
function strList(v: unknown, field: string): string[] | undefined {
  if (v === undefined || v === null) return undefined;
  if (typeof v === 'string') return [v];
  if (Array.isArray(v) && v.every((s) => typeof s === 'string')) return v as string[];
  throw new ApiError(400, `invalid ${field}: expected a string or a list of strings`);
}
