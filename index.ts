/**
 * The `localport` package: the public API of core, the default preset and the built-in plugins.
 * Importing it also brings the built-in technologies' connection types, so `defineConfig` checks
 * an ssh or kubectl `connection` block key by key.
 */
export * from './core/index.js';
export * from './presets/default/index.js';
