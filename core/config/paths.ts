import { snake } from './schema.js';

/**
 * Renders a key path the way the user wrote it: `services[1] (web).local_port` for a YAML file
 * written in snake_case, `services.web.localPort` for a TypeScript config keyed by name.
 * Zod reports camelCase keys (the schema renames snake_case ones); this looks each key up in the
 * raw input and uses the spelling found there.
 */
export function describePath(raw: unknown, path: readonly PropertyKey[]): string {
  let out = '';
  let node: unknown = raw;
  for (const seg of path) {
    if (typeof seg === 'number') {
      out += `[${seg}]`;
      node = Array.isArray(node) ? node[seg] : undefined;
      const name = node && typeof node === 'object' ? (node as Record<string, unknown>).name : undefined;
      if (out.startsWith('services[') && out.indexOf(']') === out.length - 1 && typeof name === 'string') out += ` (${name})`;
      continue;
    }
    let key = String(seg);
    if (node && typeof node === 'object' && !(key in node) && snake(key) in node) key = snake(key);
    out += out ? `.${key}` : key;
    node = node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
  }
  return out || '(root)';
}
