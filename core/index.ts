/**
 * LocalPort's public API. Built-in plugins use only what is exported here; so can yours.
 */
import type { LocalPortPlugin, PluginInput, UserConfig } from './types.js';

export type * from './types.js';
export type { ForwardInfo, HealthChange, RestartInfo, ShutdownPhaseInfo, ShutdownPhaseName, StateChange, TapHooks } from './hooks.js';
export { ConfigError, LocalPortError, PluginError, ServiceError, UsageError, type ConfigProblem } from './errors.js';
export { bool, configObject, count, hostname, nonEmpty, port, seconds } from './config/schema.js';
export { REDACTED } from './redact.js';

/** Identity function that gives a config file its types: `export default defineConfig({ services: { … } })`. */
export function defineConfig<const C extends UserConfig>(config: C): C {
  return config;
}

/** Identity function that types a plugin: `{ name, apply(api) }`. */
export function definePlugin<P extends LocalPortPlugin>(plugin: P): P {
  return plugin;
}

/** A preset: a partial config (services, defaults, plugins) that other configs extend. */
export interface Preset extends Partial<Omit<UserConfig, 'plugins'>> {
  plugins?: PluginInput[];
}

/** Identity function that types a preset. */
export function definePreset<P extends Preset>(preset: P): P {
  return preset;
}
