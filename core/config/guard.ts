import { ConfigError } from '../errors.js';
import { describeValue } from './code.js';
import { describePath } from './paths.js';

/**
 * A hand-written config has hundreds of values, a generated one a few thousand; a YAML alias bomb
 * passes this in microseconds. Counted with repetition: a node shared through an alias counts once
 * per reference, because that is how often the walks that follow (`${VAR}` substitution, preset
 * merging, schema validation) visit and copy it.
 */
export const MAX_CONFIG_VALUES = 100_000;
/** Deeper than any config key path; the walks that follow recurse, so this also bounds their stack. */
export const MAX_CONFIG_DEPTH = 100;

const isWalkable = (v: unknown): v is object => {
  if (Array.isArray(v)) return true;
  if (!v || typeof v !== 'object') return false;
  const proto = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
};

/**
 * Checks a loaded config (or preset) before anything copies it: that it is a tree, not a graph
 * that contains itself (`c.self = c` in a TypeScript config), and that walking it as a tree stays
 * small, which an exponentially nesting YAML file ("billion laughs": anchors of aliases of anchors)
 * does not. js-yaml shares alias nodes, so parsing such a file is cheap; it is every later walk
 * that would take minutes and gigabytes. Reads every key once, so that a throwing getter is
 * reported against its file and key. Throws a ConfigError naming the file and the key path.
 *
 * Plain objects and arrays are walked, as the later walks do; the entries of a top-level `plugins`
 * list are plugin objects (functions, options, references to anything) and are not, but nested
 * plugin lists are, because they are flattened.
 */
export function checkConfigShape(raw: unknown, file: string): void {
  let count = 0;
  const ancestors = new Set<object>();
  const fail = (path: PropertyKey[], message: string, code = 'CONFIG_INVALID'): never => {
    let where: string;
    try {
      where = path.length ? describePath(raw, path) : '';
    } catch {
      // describePath reads the keys again, and one of them throws: spell the path plainly.
      where = path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i ? `.${String(k)}` : String(k))).join('');
    }
    throw new ConfigError([{ file, path: where, message }], undefined, code);
  };

  const visit = (value: unknown, path: PropertyKey[], pluginList: boolean): void => {
    if (++count > MAX_CONFIG_VALUES) {
      fail(path.slice(0, 1), `the config expands to more than ${MAX_CONFIG_VALUES} values (YAML anchors/aliases that nest?); write it out without nested aliases`, 'CONFIG_TOO_LARGE');
    }
    let walkable: boolean;
    try {
      walkable = pluginList ? Array.isArray(value) : isWalkable(value);
    } catch (error) {
      return fail(path, `cannot be read: ${describeValue(error)}`);
    }
    if (!walkable) return;
    const node = value as Record<string, unknown>;
    if (ancestors.has(node)) fail(path, 'the config refers to itself here (an object that contains itself); a config must be a tree', 'CONFIG_CYCLE');
    if (path.length >= MAX_CONFIG_DEPTH) fail(path, `the config nests deeper than ${MAX_CONFIG_DEPTH} levels`, 'CONFIG_TOO_LARGE');
    ancestors.add(node);
    let keys: string[];
    try {
      keys = Object.keys(node);
    } catch (error) {
      return fail(path, `its keys cannot be read: ${describeValue(error)}`);
    }
    for (const key of keys) {
      const seg = Array.isArray(node) ? Number(key) : key;
      let child: unknown;
      try {
        child = node[key];
      } catch (error) {
        fail([...path, seg], `reading this key threw: ${describeValue(error)}`);
      }
      visit(child, [...path, seg], pluginList || (path.length === 0 && key === 'plugins'));
    }
    ancestors.delete(node);
  };

  visit(raw, [], false);
}
