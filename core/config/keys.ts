/** `local_port` → `localPort`, and back: the two spellings a config may use. */
export const camel = (key: string) => key.replace(/_([a-z0-9])/g, (_, c: string) => c.toUpperCase());
export const snake = (key: string) => key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);

/**
 * The keys whose children are user data, not config keys (ssh's `options`, HTTP `headers`): each
 * technology and health check declares its own. One set for the whole config, as a key name means
 * the same wherever it appears; merging presets and `config export` keep those maps as written.
 */
export function freeFormKeys(registries: { technologies: { values(): { freeFormKeys?: readonly string[] }[] }; healthChecks: { values(): { freeFormKeys?: readonly string[] }[] } }): Set<string> {
  return new Set([...registries.technologies.values(), ...registries.healthChecks.values()].flatMap((d) => d.freeFormKeys ?? []));
}

/** A name or key as shown in an error: whole up to 64 characters, so an absurd one keeps the error to one line. */
export function clip(text: string, max = 64): string {
  const flat = text.replace(/[\r\n\t]/g, ' ');
  return flat.length <= max ? flat : `${flat.slice(0, max - 1)}… (${flat.length} characters)`;
}

/**
 * Renders a key path the way the user wrote it: `services[1] (web).local_port` for a YAML file
 * written in snake_case, `services.web.localPort` for a TypeScript config keyed by name.
 * Zod reports camelCase keys (the schema renames snake_case ones); this looks each key up in the
 * raw input and uses the spelling found there.
 */
export function describePath(raw: unknown, path: readonly PropertyKey[]): string {
  let out = '';
  let node: unknown = raw;
  // A missing key has no spelling to look up: use the one the config writes its other keys in.
  let snakeCase = false;
  for (const seg of path) {
    if (typeof seg === 'number') {
      out += `[${seg}]`;
      node = Array.isArray(node) ? node[seg] : undefined;
      const name = node && typeof node === 'object' ? (node as Record<string, unknown>).name : undefined;
      if (out.startsWith('services[') && out.indexOf(']') === out.length - 1 && typeof name === 'string') out += ` (${clip(name)})`;
      continue;
    }
    let key = String(seg);
    if (node && typeof node === 'object' && !Array.isArray(node) && Object.keys(node).some((k) => /^[a-z0-9]+_[a-z0-9_]+$/.test(k))) snakeCase = true;
    if (node && typeof node === 'object' && !(key in node) && (snake(key) in node || snakeCase)) key = snake(key);
    out += out ? `.${clip(key)}` : clip(key);
    node = node && typeof node === 'object' ? (node as Record<string, unknown>)[key] : undefined;
  }
  return out || '(root)';
}
