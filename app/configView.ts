import type { ResolvedConfig, View } from '../core/types.js';
import type { Redactor } from '../core/redact.js';
import { freeFormKeys, snake } from '../core/config/keys.js';
import type { LocalPort } from '../core/LocalPort.js';

/** `config validate`: the services found, once the config passed every check. */
export function validateView(config: ResolvedConfig): View {
  return {
    kind: 'validate',
    file: config.file ?? null,
    services: config.services.map((s) => ({ name: s.name, technology: s.technology, enabled: s.enabled })),
  };
}

/** `config print`: the resolved config (defaults applied), every secret replaced by ***. */
export function printView(config: ResolvedConfig, redactor: Redactor): View {
  return {
    kind: 'config',
    file: config.file ?? null,
    config: redactor.data({ version: config.version, services: config.services }),
  };
}

/** Config keys to snake_case; the children of `freeForm` keys (ssh options, HTTP headers) are data, kept as written. */
function toSnake(value: unknown, freeForm: ReadonlySet<string>): unknown {
  if (Array.isArray(value)) return value.map((v) => toSnake(v, freeForm));
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), freeForm.has(k) ? v : toSnake(v, freeForm)]));
}

/** `config export`: the resolved services in the original format (snake_case, a list), redacted. */
export function exportConfig(config: ResolvedConfig, hub: Pick<LocalPort, 'redactor' | 'technologies' | 'healthChecks'>, tags: string[] = []): unknown {
  const freeForm = freeFormKeys(hub);
  const services = config.services
    .filter((s) => tags.length === 0 || s.tags.some((t) => tags.includes(t)))
    .map(({ source: _source, ...s }) => toSnake(s, freeForm));
  return hub.redactor.data({ version: config.version, services });
}
