import type { ResolvedConfig, View } from '../core/types.js';
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

/** `config print`: the resolved config (defaults applied); rendering replaces every secret by ***. */
export function printView(config: ResolvedConfig): View {
  return {
    kind: 'config',
    file: config.file ?? null,
    config: { version: config.version, services: config.services },
  };
}

/** Config keys to snake_case; the children of `freeForm` keys (ssh options, HTTP headers) are data, kept as written. */
function toSnake(value: unknown, freeForm: ReadonlySet<string>): unknown {
  if (Array.isArray(value)) return value.map((v) => toSnake(v, freeForm));
  if (!value || typeof value !== 'object') return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [snake(k), freeForm.has(k) ? v : toSnake(v, freeForm)]));
}

/**
 * `config export`: the resolved services in the original format (snake_case, a list). A value that came
 * from `${VAR}` is written as the file wrote it (`${PGPW}`), not as its value: the export is a config to
 * share or to load again, and a `***` there would read as a real password.
 */
export function exportView(config: ResolvedConfig, hub: Pick<LocalPort, 'technologies' | 'healthChecks'>, tags: string[] = []): View {
  const freeForm = freeFormKeys(hub);
  const services = config.services
    .filter((s) => tags.length === 0 || s.tags.some((t) => tags.includes(t)))
    .map(({ source: _source, ...s }) => {
      const out = toSnake(s, freeForm) as Record<string, unknown>;
      for (const t of config.templates?.[s.name] ?? []) putBack(out, t.path, t.text);
      return out;
    });
  return { kind: 'export', file: config.file ?? null, config: { version: config.version, services } };
}

/** Writes `text` at `path` (keys as the file spelt them, snake_case or camelCase) where the export has that key. */
function putBack(into: Record<string, unknown>, path: string[], text: string): void {
  let node: unknown = into;
  for (let i = 0; i < path.length; i++) {
    if (!node || typeof node !== 'object') return;
    const seg = path[i];
    const obj = node as Record<string, unknown>;
    const key = Array.isArray(node) ? seg : seg in obj ? seg : snake(seg) in obj ? snake(seg) : undefined;
    if (key === undefined) return;
    if (i === path.length - 1) (obj as Record<string, unknown>)[key] = text;
    else node = obj[key];
  }
}
