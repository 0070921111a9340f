/** The nestbox TypeScript SDK: `Nestbox.local()` in-process, `Nestbox.connect()` against `nestbox serve`. */
export { Nestbox } from './nestbox.js';
export { Sandbox, type RunResult, type RunOptions } from './sandbox.js';
export { StoppedSandbox } from './stopped-sandbox.js';
export type { Output } from './output.js';
export { SandboxFileError } from './file-error.js';
export type { SandboxApi, SandboxSpec, SandboxInfo, SandboxStatus, ExecOptions, LogsOptions, OutputChunk, StdinSource } from './api.js';
