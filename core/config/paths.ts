import os from 'node:os';
import path from 'node:path';

/**
 * Path values in a service's `connection` (the keys a technology lists in `pathKeys`): `~` and `~/…`
 * are the user's home; a relative path is relative to the directory of the file that holds the value
 * (the config file, or the preset that set it), never to the working directory, so a config means
 * the same files whether LocalPort runs from its folder, from elsewhere with `-c`, or as a daemon.
 */
export function resolvePathValue(value: string, dir: string | undefined): string {
  if (value === '~' || value.startsWith('~/')) return path.join(os.homedir(), value.slice(1));
  if (path.isAbsolute(value) || dir === undefined) return value;
  return path.resolve(dir, value);
}

/** The path keys every registered technology declares: one set, as a key name means the same wherever it appears. */
export function pathKeys(registries: { technologies: { values(): { pathKeys?: readonly string[] }[] } }): Set<string> {
  return new Set(registries.technologies.values().flatMap((t) => t.pathKeys ?? []));
}
