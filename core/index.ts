/**
 * LocalPort's public API. Built-in plugins use only what is exported here; so can yours.
 */
import type { LocalPortPlugin, PluginInput, UserConfig } from './types.js';

export type * from './types.js';
export type { ForwardInfo, HealthChange, RestartInfo, ShutdownPhaseInfo, ShutdownPhaseName, StateChange, TapHooks } from './hooks.js';
export { ConfigError, LocalPortError, PluginError, ServiceError, UsageError, type ConfigProblem } from './errors.js';
export { bool, configObject, CONTROL_MESSAGE, count, hasControl, hostname, MAX_COUNT, MAX_NAME_LENGTH, MAX_SECONDS, nonEmpty, port, seconds } from './config/schema.js';
export { printable } from './printable.js';
export { showAddress, showListen } from './address.js';
/**
 * Opens one connection (TCP or a Unix socket), bounded by an abort signal and a timeout: for in-process
 * technologies. Loaded when first used: a command that only reads the config never needs it.
 */
export const openConnection: typeof import('./supervisor/endpoints.js').connectTo = async (...args) => (await import('./supervisor/endpoints.js')).connectTo(...args);
export { REDACTED } from './redact.js';
/** A directory private to this LocalPort process (0700, removed at exit) for a plugin's files: see core/privateDir.ts. */
export { privateDirectory } from './privateDir.js';
/** The zod LocalPort validates with, for plugins' `connection` and `config` schemas. */
export { z } from 'zod';

/**
 * Identity function that gives a config file its types: `export default defineConfig({ services: { … } })`.
 * Not generic on purpose: a misspelt key is an excess property, and so a type error.
 */
export function defineConfig(config: UserConfig): UserConfig {
  return config;
}

/** Identity function that types a plugin: `{ name, apply(api) }`. */
export function definePlugin<P extends LocalPortPlugin>(plugin: P): P {
  return plugin;
}

/** A preset: a partial config (services, defaults, plugins, its own `extends`) that other configs extend. */
export interface Preset extends Omit<UserConfig, 'services'> {
  /** Shown by `config print` as the source of its services. */
  name?: string;
  services?: UserConfig['services'];
  plugins?: PluginInput[];
}

/** Identity function that types a preset. */
export function definePreset(preset: Preset): Preset {
  return preset;
}
