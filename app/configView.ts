import type { ResolvedConfig, View } from '../core/types.js';
import { snake } from '../core/config/keys.js';

/** `config validate`: the services found, once the config passed every check. */
export function validateView(config: ResolvedConfig): View {
  return {
    kind: 'validate',
    file: config.file ?? null,
    services: config.services.map((s) => ({ name: s.name, technology: s.technology, enabled: s.enabled })),
  };
}

/** `config print`: the resolved config (defaults applied); rendering replaces every secret by ***. */
export function printView(config: ResolvedConfig): View {
  return {
    kind: 'config',
    file: config.file ?? null,
    config: { version: config.version, services: config.services },
  };
}

/** Maps whose keys are data (ssh options, HTTP headers, environment), not config keys: kept as written. */
const FREE_FORM = new Set(['options', 'headers', 'env']);

function toSnake(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(toSnake);
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), FREE_FORM.has(k) ? v : toSnake(v)]));
}

/** `config export`: the resolved services in the original format (snake_case, a list); rendering redacts them. */
export function exportView(config: ResolvedConfig, tags: string[] = []): View {
  const services = config.services
    .filter((s) => tags.length === 0 || s.tags.some((t) => tags.includes(t)))
    .map(({ source: _source, ...s }) => toSnake(s));
  return { kind: 'export', file: config.file ?? null, config: { version: config.version, services } };
}
