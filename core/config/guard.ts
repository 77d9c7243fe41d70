import { ConfigError, type ErrorCode } from '../errors.js';
import { describeValue } from './code.js';
import { describePath } from './keys.js';

/**
 * A hand-written config has hundreds of values, a generated one a few thousand; a YAML alias bomb
 * passes this in microseconds. Counted with repetition: a node shared through an alias counts once
 * per reference, because that is how often the walks that follow (`${VAR}` substitution, preset
 * merging, schema validation) visit and copy it.
 */
export const MAX_CONFIG_VALUES = 100_000;
/** Deeper than any config key path; the walks that follow recurse, so this also bounds their stack. */
export const MAX_CONFIG_DEPTH = 100;
/**
 * Characters of every key and string, counted with repetition like the values: one long string
 * behind 2,000 aliases is 2,001 values, but it is what the state files and the output would then
 * hold 2,000 times (a 10 MB string took LocalPort past 2 GB).
 */
export const MAX_CONFIG_CHARS = 16 * 1024 * 1024;

/**
 * An object literal (or `Object.create(null)`), from whichever realm made it: config code evaluated by
 * jiti runs in Node's main context, which under a test runner's vm context is another realm, whose
 * `Object.prototype` is not ours. A class instance (a Date, a Map, a Buffer) is not plain.
 */
export function isPlainObject(v: unknown): v is Record<string, unknown> {
  if (!v || typeof v !== 'object' || Array.isArray(v)) return false;
  const proto = Object.getPrototypeOf(v);
  return proto === null || (Object.getPrototypeOf(proto) === null && Object.prototype.toString.call(v) === '[object Object]');
}

const isWalkable = (v: unknown): v is object => Array.isArray(v) || isPlainObject(v);

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
export function checkConfigShape(raw: unknown, file: string): unknown {
  let count = 0;
  let chars = 0;
  // Each plain object or array copied once (shared nodes stay shared, as in the input): what comes
  // after walks this copy, so a getter is read exactly once, here, and a Proxy's traps ran here.
  const copies = new Map<object, object>();
  const ancestors = new Set<object>();
  const fail = (path: PropertyKey[], message: string, code: ErrorCode = 'CONFIG_INVALID'): never => {
    let where: string;
    try {
      where = path.length ? describePath(raw, path) : '';
    } catch {
      // describePath reads the keys again, and one of them throws: spell the path plainly.
      where = path.map((k, i) => (typeof k === 'number' ? `[${k}]` : i ? `.${String(k)}` : String(k))).join('');
    }
    throw new ConfigError([{ file, path: where, message }], undefined, code);
  };

  const tooMany = (path: PropertyKey[]) =>
    fail(path.slice(0, 1), `the config expands to more than ${MAX_CONFIG_VALUES} values (YAML anchors/aliases that nest?); write it out without nested aliases`, 'CONFIG_TOO_LARGE');
  const tooLarge = (path: PropertyKey[]) =>
    fail(path.slice(0, 1), `the config expands to more than ${MAX_CONFIG_CHARS / 1024 / 1024} MiB of text (a long string repeated through YAML aliases?); write it out without them`, 'CONFIG_TOO_LARGE');

  const made = new WeakSet<object>();
  const visit = (value: unknown, path: PropertyKey[], pluginList: boolean): unknown => {
    if (++count > MAX_CONFIG_VALUES) tooMany(path);
    if (typeof value === 'string' && (chars += value.length) > MAX_CONFIG_CHARS) tooLarge(path);
    if (typeof value === 'bigint') fail(path, `is a BigInt (${String(value)}n); write a plain number`);
    let walkable: boolean;
    try {
      walkable = pluginList ? Array.isArray(value) : isWalkable(value);
    } catch (error) {
      return fail(path, `cannot be read: ${describeValue(error)}`);
    }
    if (!walkable) return value;
    const node = value as Record<string, unknown>;
    if (ancestors.has(node)) fail(path, 'the config refers to itself here (an object that contains itself); a config must be a tree', 'CONFIG_CYCLE');
    if (path.length >= MAX_CONFIG_DEPTH) fail(path, `the config nests deeper than ${MAX_CONFIG_DEPTH} levels`, 'CONFIG_TOO_LARGE');
    const child = (key: string) => [...path, Array.isArray(node) ? Number(key) : key];
    const pluginsBelow = (key: string) => pluginList || (path.length === 0 && key === 'plugins');

    // A node met again through sharing (an alias): its copy is walked once more, for the counts only.
    const existing = copies.get(node);
    if (existing) return visit(existing, path, pluginList);
    if (made.has(node)) {
      ancestors.add(node);
      for (const key of Object.keys(node)) {
        if ((chars += key.length) > MAX_CONFIG_CHARS) tooLarge(path);
        visit(node[key], child(key), pluginsBelow(key));
      }
      ancestors.delete(node);
      return node;
    }

    let keys: string[];
    try {
      keys = Object.keys(node);
    } catch (error) {
      return fail(path, `its keys cannot be read: ${describeValue(error)}`);
    }
    const copy = (Array.isArray(node) ? new Array(keys.length) : {}) as Record<string, unknown>;
    copies.set(node, copy);
    made.add(copy);
    ancestors.add(node);
    for (const key of keys) {
      if ((chars += key.length) > MAX_CONFIG_CHARS) tooLarge(path);
      let read: unknown;
      try {
        read = node[key];
      } catch (error) {
        fail(child(key), `reading this key threw: ${describeValue(error)}`);
      }
      // A `__proto__` key (from JSON or YAML) stays data: defined, never the copy's prototype.
      Object.defineProperty(copy, key, { value: visit(read, child(key), pluginsBelow(key)), enumerable: true, writable: true, configurable: true });
    }
    ancestors.delete(node);
    return copy;
  };

  return visit(raw, [], false);
}
