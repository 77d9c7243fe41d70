import { existsSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { ConfigError, isUserError, type ErrorCode } from '../errors.js';
import { ConfigCodeError, describeValue, runConfigCode, ThrownValue } from './code.js';
import { checkConfigShape, isPlainObject } from './guard.js';
import { importModule, checkConfigFile } from './load.js';
import { camel } from './keys.js';

/**
 * `extends` and `plugins: [['package', options]]`: finding a package, loading it (ESM, CommonJS or
 * TypeScript, through jiti), and merging presets into the config — left to right, the local file last.
 */

export type PresetErrorKind = 'not-found' | 'no-entry' | 'invalid-shape' | 'missing-dependency' | 'load-failed';

const CODES: Record<PresetErrorKind, ErrorCode> = {
  'not-found': 'PRESET_NOT_FOUND',
  'no-entry': 'PRESET_NO_ENTRY',
  'invalid-shape': 'PRESET_INVALID',
  'missing-dependency': 'PRESET_MISSING_DEPENDENCY',
  'load-failed': 'PRESET_LOAD_FAILED',
};

function presetError(kind: PresetErrorKind, what: string, name: string, from: string, message: string, hint: string): ConfigError {
  return new ConfigError([{ file: from, path: what === 'preset' ? 'extends' : 'plugins', message: `${what} '${name}': ${message}` }], hint, CODES[kind]);
}

/** Whether two paths name one file (through symbolic links too). */
function sameFile(a: string, b: string): boolean {
  if (path.resolve(a) === path.resolve(b)) return true;
  try {
    return realpathSync(a) === realpathSync(b);
  } catch {
    return false;
  }
}

const isPath = (spec: string) => spec.startsWith('.') || spec.startsWith('/') || /^[A-Za-z]:[\\/]/.test(spec);

let resolver: { esmResolve(id: string, opts: { parentURL: string; try: true }): string | undefined } | undefined;

/**
 * A package name resolved as `import` would from `dir` (jiti's resolver: `exports` with the import,
 * node and default conditions, then `main`, extensions, index files), or undefined. jiti is required
 * here, synchronously and only when a package is named: it ships CommonJS, and a YAML config that
 * names no package never loads it.
 */
function resolvePackage(spec: string, dir: string): string | undefined {
  resolver ??= (createRequire(import.meta.url)('jiti') as typeof import('jiti')).createJiti(import.meta.url, { moduleCache: false, fsCache: false });
  const url = resolver.esmResolve(spec, { parentURL: pathToFileURL(path.join(dir, 'localport.config.js')).href, try: true });
  return url ? fileURLToPath(url) : undefined;
}

/** The entry a package.json declares: `exports`' `.` (any condition's first string), else `main`. For the message only. */
function declaredEntry(pkg: { main?: string; exports?: unknown }): string {
  const first = (exp: unknown): string | undefined => {
    if (typeof exp === 'string') return exp;
    if (!exp || typeof exp !== 'object') return undefined;
    const o = exp as Record<string, unknown>;
    const subpaths = Object.keys(o).some((k) => k.startsWith('.'));
    for (const v of subpaths ? [o['.']] : Object.values(o)) {
      const found = first(v);
      if (found) return found;
    }
    return undefined;
  };
  return first(pkg.exports) ?? pkg.main ?? 'index.js';
}

/**
 * A relative preset path with the extension left out: LocalPort's own list, as a preset may be data
 * (`./team` finds team.yaml) where a module resolver knows only code.
 */
function existingFile(base: string): string | undefined {
  for (const candidate of [base, `${base}.js`, `${base}.mjs`, `${base}.cjs`, `${base}.ts`, `${base}.json`, `${base}.yaml`, `${base}.yml`, path.join(base, 'index.js'), path.join(base, 'index.mjs'), path.join(base, 'index.cjs')]) {
    if (existsSync(candidate) && statSync(candidate).isFile()) return candidate;
  }
  return undefined;
}

/** What stands at `target` when it is not a file to load: a directory without an index, a FIFO, a loop. */
function whatIsThere(target: string): string | undefined {
  try {
    const st = statSync(target);
    if (st.isDirectory()) return 'a directory with no index.js';
    if (!st.isFile()) return st.isFIFO() ? 'a named pipe (FIFO), not a file' : 'not a regular file';
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ELOOP') return 'a symbolic link that points to itself (a loop)';
    if (code === 'EACCES') return 'not readable (permission denied)';
  }
  return undefined;
}

/** node_modules/<name> from `dir` upwards: after the resolver failed, tells "not installed" from "no entry point". */
function packageDir(name: string, dir: string): string | undefined {
  for (let d = path.resolve(dir); ; d = path.dirname(d)) {
    const candidate = path.join(d, 'node_modules', ...name.split('/'));
    if (existsSync(path.join(candidate, 'package.json'))) return candidate;
    if (path.dirname(d) === d) return undefined;
  }
}

/**
 * Finds a preset or plugin: a relative path (from the config's directory), or a package name looked up
 * from the config's directory first, then from the working directory.
 */
export function resolveEntry(spec: string, what: 'preset' | 'plugin', fromFile: string, cwd = process.cwd()): string {
  const fromDir = path.dirname(fromFile);
  if (isPath(spec)) {
    const file = existingFile(path.resolve(fromDir, spec));
    if (!file) {
      const target = path.resolve(fromDir, spec);
      throw presetError('not-found', what, spec, fromFile, `${whatIsThere(target) ?? 'no such file'}: ${target}`, 'Check the relative path; it is resolved from the directory of the config that names it.');
    }
    return file;
  }
  const resolved = resolvePackage(spec, fromDir) ?? resolvePackage(spec, cwd);
  if (resolved) return resolved;
  const dir = packageDir(spec, fromDir) ?? packageDir(spec, cwd);
  if (!dir) {
    throw presetError('not-found', what, spec, fromFile, `package not found (looked in node_modules from ${fromDir} and from ${cwd})`, `Install it: npm install --save-dev ${spec}`);
  }
  let pkg: { main?: string; exports?: unknown };
  try {
    pkg = JSON.parse(readFileSync(path.join(dir, 'package.json'), 'utf8'));
  } catch (e) {
    throw presetError('no-entry', what, spec, fromFile, `cannot read ${path.join(dir, 'package.json')}: ${(e as Error).message}`, 'Reinstall the package.');
  }
  const declared = path.resolve(dir, declaredEntry(pkg));
  throw presetError('no-entry', what, spec, fromFile, `the package has no entry point: ${declared} does not exist`, `Its package.json must name an existing file in "exports" or "main" (is the package built?).`);
}

/** A timeout or `process.exit` in a preset's or plugin's code, reported against the config that names it. */
function codeError(error: ConfigCodeError, what: 'preset' | 'plugin', spec: string, fromFile: string): ConfigError {
  return presetError('load-failed', what, spec, fromFile, `${error.file} ${error.reason}`, error.hint ?? `Fix the ${what}, or remove it.`);
}

/**
 * Calls what a preset or plugin exports (a preset function, a plugin factory) as config code:
 * bounded in time, `process.exit` trapped, whatever it throws named.
 */
async function callExport(fn: (...args: unknown[]) => unknown, args: unknown[], file: string, spec: string, what: 'preset' | 'plugin', fromFile: string): Promise<unknown> {
  try {
    return await runConfigCode(file, `${what} '${spec}' (${file})`, () => fn(...args));
  } catch (error) {
    if (error instanceof ConfigCodeError) throw codeError(error, what, spec, fromFile);
    if (isUserError(error)) throw error;
    const call = what === 'preset' ? 'its default export' : 'its plugin factory';
    const thrown = error instanceof ThrownValue ? `${describeValue(error.value)}, not an Error` : `an error: ${describeValue(error)}`;
    throw presetError('load-failed', what, spec, fromFile, `${call} threw ${thrown}`, `Fix the ${what}, or remove it.`);
  }
}

/** Loads a resolved entry, telling a missing dependency of the package apart from any other failure. */
export async function loadEntry(file: string, spec: string, what: 'preset' | 'plugin', fromFile: string): Promise<unknown> {
  if (/\.(ya?ml|json)$/i.test(file)) {
    // A preset written as data, in the config file formats.
    checkConfigFile(file, { file: fromFile, path: what === 'preset' ? 'extends' : 'plugins' });
    try {
      const text = readFileSync(file, 'utf8');
      return /\.json$/i.test(file) ? JSON.parse(text) : (await import('js-yaml')).default.load(text);
    } catch (error) {
      throw presetError('load-failed', what, spec, fromFile, `cannot parse ${file}: ${(error as Error).message.split('\n')[0]}`, `Fix the ${what}'s syntax.`);
    }
  }
  try {
    return await runConfigCode(file, `${what} '${spec}' (${file})`, async () => {
      let mod = await importModule(file);
      // `export default`, `module.exports`, or a nested `default` from ESM/CJS interop.
      for (let i = 0; i < 3 && mod && typeof mod === 'object' && 'default' in mod && Object.keys(mod).length <= 2; i++) mod = (mod as { default: unknown }).default;
      return mod;
    });
  } catch (error) {
    if (error instanceof ConfigCodeError) throw codeError(error, what, spec, fromFile);
    if (isUserError(error)) throw error;
    const e = error as NodeJS.ErrnoException & { message: string };
    const missing = /Cannot find (?:module|package) '([^']+)'/.exec(e.message)?.[1];
    if (missing && path.resolve(missing) !== file) {
      const dep = missing.startsWith('/') ? missing : missing.split('/').slice(0, missing.startsWith('@') ? 2 : 1).join('/');
      throw presetError('missing-dependency', what, spec, fromFile, `it needs '${dep}', which is not installed`, `Install the ${what}'s dependency (npm install ${dep}), or ask its authors to declare it.`);
    }
    throw presetError('load-failed', what, spec, fromFile, `failed to load ${file}: ${e.message.split('\n')[0]}`, `Fix the ${what}, or remove it.`);
  }
}

const PRESET_KEYS = new Set(['name', 'extends', 'version', 'defaults', 'services', 'plugins']);

function checkPresetShape(value: unknown, spec: string, fromFile: string): Record<string, unknown> {
  if (!value || typeof value !== 'object' || Array.isArray(value)) {
    throw presetError('invalid-shape', 'preset', spec, fromFile, `it must export an object (a preset made with definePreset), but exports ${Array.isArray(value) ? 'an array' : typeof value}`, 'Export default definePreset({ services, defaults, plugins }).');
  }
  const unknown = Object.keys(value).filter((k) => !PRESET_KEYS.has(k));
  if (unknown.length) {
    throw presetError('invalid-shape', 'preset', spec, fromFile, `unknown key${unknown.length > 1 ? 's' : ''} ${unknown.map((k) => `'${k}'`).join(', ')}; a preset may have ${[...PRESET_KEYS].join(', ')}`, 'Export default definePreset({ services, defaults, plugins }).');
  }
  const services = (value as Record<string, unknown>).services;
  if (services !== undefined && (typeof services !== 'object' || services === null)) {
    throw presetError('invalid-shape', 'preset', spec, fromFile, '`services` must be a list or an object keyed by name', 'Export default definePreset({ services, defaults, plugins }).');
  }
  return value as Record<string, unknown>;
}

// ---------------------------------------------------------------------------------------------
// Merging

/**
 * snake_case config keys to camelCase, so a YAML file and a TypeScript preset merge key by key. The
 * children of `freeForm` keys (ssh options, HTTP headers: see freeFormKeys) are data, kept as written.
 */
function camelize(value: unknown, freeForm: ReadonlySet<string>): unknown {
  if (Array.isArray(value)) return value.map((v) => camelize(v, freeForm));
  if (!isPlainObject(value)) return value;
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [camel(k), freeForm.has(camel(k)) ? v : camelize(v, freeForm)]));
}

const plain = isPlainObject;

/** Objects merge key by key; anything else (scalars, arrays) is replaced by the later value. */
export function deepMerge(a: unknown, b: unknown): unknown {
  if (b === undefined) return a;
  if (!plain(a) || !plain(b)) return b;
  const out: Record<string, unknown> = { ...a };
  for (const [k, v] of Object.entries(b)) out[k] = deepMerge(a[k], v);
  return out;
}

function servicesByName(services: unknown): Map<string, Record<string, unknown>> {
  const out = new Map<string, Record<string, unknown>>();
  if (Array.isArray(services)) {
    services.forEach((s, i) => {
      if (plain(s)) out.set(typeof s.name === 'string' ? s.name : `#${i}`, s);
    });
  } else if (plain(services)) {
    for (const [name, s] of Object.entries(services)) if (plain(s)) out.set(name, { name, ...s });
  }
  return out;
}

export interface Layer {
  source: string;
  config: Record<string, unknown>;
  /** The file this layer was written in: a relative path value in it is resolved from its directory. */
  file?: string;
}

/** Per service, per path key of its `connection`: the directory of the layer that set the value last. */
export type PathDirs = Map<string, Map<string, string>>;

/**
 * One rule per key: services merge by name (a later layer's fields win; `enabled: false` switches an
 * inherited service off), plugins concatenate (the hub de-duplicates by name), defaults merge deeply,
 * scalars replace. Returns the merged config and where each service came from.
 */
export function mergeLayers(
  layers: Layer[],
  freeForm: ReadonlySet<string> = new Set(),
  pathKeys: ReadonlySet<string> = new Set(),
): { config: Record<string, unknown>; sources: Map<string, string>; pathDirs: PathDirs } {
  const sources = new Map<string, string>();
  const pathDirs: PathDirs = new Map();
  const services = new Map<string, Record<string, unknown>>();
  let defaults: unknown = {};
  let version: unknown;
  let ui: unknown;
  const plugins: unknown[] = [];
  for (const layer of layers) {
    const { source, config } = layer;
    const c = camelize({ ...config, plugins: undefined }, freeForm) as Record<string, unknown>;
    if (c.version !== undefined) version = c.version;
    if (c.ui !== undefined) ui = deepMerge(ui ?? {}, c.ui);
    defaults = deepMerge(defaults, c.defaults);
    for (const [name, s] of servicesByName(c.services)) {
      const prev = services.get(name);
      services.set(name, prev ? (deepMerge(prev, s) as Record<string, unknown>) : s);
      sources.set(name, prev ? `${sources.get(name)} + ${source}` : source);
      // A path is relative to the file it is written in: a preset's own files travel with the preset.
      const connection = s.connection;
      if (layer.file !== undefined && plain(connection)) {
        for (const key of Object.keys(connection)) {
          if (!pathKeys.has(key)) continue;
          const dirs = pathDirs.get(name) ?? new Map<string, string>();
          dirs.set(key, path.dirname(layer.file));
          pathDirs.set(name, dirs);
        }
      }
    }
    if (Array.isArray(config.plugins)) plugins.push(...config.plugins);
  }
  const config: Record<string, unknown> = { defaults, services: [...services.values()] };
  if (version !== undefined) config.version = version;
  if (ui !== undefined) config.ui = ui;
  if (plugins.length) config.plugins = plugins;
  return { config, sources, pathDirs };
}

/**
 * Resolves `extends` (recursively: a preset may extend others) and merges the layers; see collectExtends
 * and mergeLayers. resolveConfig runs the two steps itself, to apply the layers' plugins in between.
 */
export async function resolveExtends(raw: Record<string, unknown>, file: string, cwd = process.cwd(), freeForm?: ReadonlySet<string>): Promise<{ raw: Record<string, unknown>; sources?: Map<string, string>; files: string[] }> {
  const collected = await collectExtends(raw, file, cwd);
  if (!collected) return { raw, files: [] };
  const merged = mergeLayers(collected.layers, freeForm);
  return { raw: merged.config, sources: merged.sources, files: collected.files };
}

/**
 * Loads what `extends` names (recursively: a preset may extend others) into layers, in order: the
 * presets left to right, each after the presets it extends, then the config itself. Each layer's
 * plugins are loaded from its own location; `plugins` lists them all, in layer order. Undefined
 * when the config extends nothing.
 */
export async function collectExtends(raw: Record<string, unknown>, file: string, cwd = process.cwd()): Promise<{ layers: Layer[]; files: string[]; plugins: unknown[] } | undefined> {
  if (raw.extends === undefined) return undefined;
  const layers: Layer[] = [];
  const files: string[] = [];
  // A preset reached twice by different paths (a diamond) is merged once; one that extends a file
  // it is itself extended by (a cycle, or itself) is an error: there is no order to merge them in.
  const seen = new Set<string>();
  const visit = async (config: Record<string, unknown>, from: string, source: string, chain: string[]) => {
    const ext = config.extends;
    const list = ext === undefined ? [] : Array.isArray(ext) ? ext : [ext];
    for (const spec of list) {
      if (typeof spec !== 'string' || !spec) throw new ConfigError([{ file: from, path: 'extends', message: 'must be a list of package names or relative paths' }]);
      const entry = resolveEntry(spec, 'preset', from, cwd);
      const cycle = chain.findIndex((f) => sameFile(f, entry));
      if (cycle >= 0) {
        const loop = [...chain.slice(cycle), entry];
        throw new ConfigError(
          [{ file: from, path: 'extends', message: loop.length === 2 ? `preset '${spec}' is this file itself: a config cannot extend itself` : `preset '${spec}' makes a cycle: ${loop.join(' → ')}` }],
          'Remove one of these extends: a preset cannot extend, directly or not, a file that extends it.',
          'PRESET_CYCLE',
        );
      }
      if (seen.has(entry)) continue;
      seen.add(entry);
      files.push(entry);
      let preset = await loadEntry(entry, spec, 'preset', from);
      if (typeof preset === 'function') preset = await callExport(preset as () => unknown, [], entry, spec, 'preset', from);
      preset = checkConfigShape(preset, entry);
      const shaped = checkPresetShape(preset, spec, from);
      await visit(shaped, entry, typeof shaped.name === 'string' && shaped.name ? shaped.name : spec, [...chain, entry]);
    }
    const { extends: _e, name: _n, ...rest } = config;
    // A preset's named plugins are found from the preset's own location.
    if (Array.isArray(rest.plugins)) rest.plugins = await resolvePluginEntries(rest.plugins, from, cwd);
    layers.push({ source, config: rest, file: from });
  };
  await visit(raw, file, 'local', [file]);
  return { layers, files, plugins: layers.flatMap((l) => (Array.isArray(l.config.plugins) ? l.config.plugins : [])) };
}

/**
 * Plugins named in a config: `'pkg'` or `['pkg', options]` are loaded (their default export is a
 * factory, called with the options); plugin objects, nested lists and `false` pass through.
 */
export async function resolvePluginEntries(list: unknown[], file: string, cwd = process.cwd()): Promise<unknown[]> {
  const out: unknown[] = [];
  for (const item of list) {
    const named = typeof item === 'string' ? { spec: item, options: undefined } : Array.isArray(item) && typeof item[0] === 'string' ? { spec: item[0], options: item[1] } : undefined;
    if (!named) {
      out.push(Array.isArray(item) ? await resolvePluginEntries(item, file, cwd) : item);
      continue;
    }
    const entry = resolveEntry(named.spec, 'plugin', file, cwd);
    const mod = await loadEntry(entry, named.spec, 'plugin', file);
    const factory = typeof mod === 'function' ? mod : mod && typeof mod === 'object' && typeof (mod as { default?: unknown }).default === 'function' ? (mod as { default: unknown }).default : undefined;
    if (typeof factory === 'function') out.push(await callExport(factory as (o: unknown) => unknown, [named.options], entry, named.spec, 'plugin', file));
    else if (mod && typeof mod === 'object' && 'apply' in mod) out.push(mod);
    else {
      throw new ConfigError(
        [{ file, path: 'plugins', message: `plugin '${named.spec}': its default export must be a plugin factory (options) => ({ name, apply })` }],
        undefined,
        'PLUGIN_INVALID',
      );
    }
  }
  return out;
}
