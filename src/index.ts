/** The nestbox library: the same core the CLI uses, in-process. */
export { Engine, type EngineOptions } from './core/engine.js';
export type { CreateOptions } from './core/create-spec.js';
export type { Container, ContainerConfig, ContainerState, Isolation } from './core/container.js';
export * from './core/errors.js';
export * from './sdk/index.js';
