import type { ResolveOptions } from '../core/config/resolve.js';
import { defaultPreset } from '../presets/default/index.js';

/**
 * The composition root: what every config gets before its own plugins — the default preset's
 * built-in plugins — and the health check of a service that names none (a TCP connect through the
 * tunnel: it needs no configuration and fits every technology). Core names neither; the app passes
 * them to resolveConfig.
 */
export function builtins(): Required<Pick<ResolveOptions, 'plugins' | 'defaultHealthCheck'>> {
  return { plugins: defaultPreset().plugins ?? [], defaultHealthCheck: 'tcp' };
}
