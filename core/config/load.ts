import { existsSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, isUserError } from '../errors.js';
import { runConfigCode } from './code.js';

export const SEARCH_PLACES = [
  'package.json',
  'localport.config.ts',
  'localport.config.mts',
  'localport.config.js',
  'localport.config.mjs',
  'localport.config.cjs',
  'localport.config.json',
  '.localportrc',
  '.localportrc.json',
  '.localportrc.yaml',
  '.localportrc.yml',
  'localport.yaml',
  'localport.yml',
];

export interface RawConfig {
  file: string;
  raw: unknown;
}

/** The module a config's `import … from 'localport'` resolves to, even when LocalPort is installed globally. */
function ownEntry(): string {
  const js = fileURLToPath(new URL('../../index.js', import.meta.url));
  return existsSync(js) ? js : js.replace(/\.js$/, '.ts');
}

/**
 * Imports a JavaScript or TypeScript module (ESM or CommonJS) with jiti, `localport` aliased to this
 * package. No module cache: the daemon reloads a changed config in the same process.
 */
export async function importModule(filepath: string): Promise<unknown> {
  const { createJiti } = await import('jiti');
  const jiti = createJiti(import.meta.url, { alias: { localport: ownEntry() }, moduleCache: false, interopDefault: true });
  return jiti.import<unknown>(filepath, { default: true });
}

async function loadScript(filepath: string): Promise<unknown> {
  return runConfigCode(filepath, `config ${filepath}`, async () => {
    const mod = await importModule(filepath);
    // `export default defineConfig(...)` or `module.exports = …`; a function or a promise may give the config.
    return typeof mod === 'function' ? await (mod as () => unknown)() : await mod;
  });
}

function firstLine(message: string): string {
  return message.split('\n')[0].trim();
}

/** Turns a loader's exception into a ConfigError that names the file and, for YAML/JSON, the line. */
function loadError(file: string, error: unknown): ConfigError {
  if (isUserError(error)) return error as ConfigError;
  const e = error as { name?: string; reason?: string; mark?: { line: number; column: number }; message?: string };
  if (e?.name === 'YAMLException' && e.mark) {
    return new ConfigError([{ file: `${file}:${e.mark.line + 1}:${e.mark.column + 1}`, path: '', message: `YAML syntax error: ${e.reason}` }], 'Fix the YAML syntax at that line.', 'CONFIG_SYNTAX');
  }
  const message = firstLine(e?.message ?? String(error)).replace(`${file}: `, '').replace(/^JSON Error in \S+:\s*/, '');
  const kind = /\.json$|package\.json$/.test(file) ? 'JSON syntax error' : /\.[cm]?[jt]s$/.test(file) ? 'could not load config' : 'YAML syntax error';
  return new ConfigError([{ file, path: '', message: `${kind}: ${message}` }], undefined, 'CONFIG_SYNTAX');
}

/**
 * Finds and loads the config file. With `configPath`, loads exactly that file; otherwise searches
 * `cwd` and its parents (up to the project root) for the names in SEARCH_PLACES.
 */
export async function loadRawConfig(opts: { configPath?: string; cwd?: string } = {}): Promise<RawConfig> {
  const cwd = opts.cwd ?? process.cwd();
  const { cosmiconfig, defaultLoaders } = await import('cosmiconfig');
  const explorer = cosmiconfig('localport', {
    searchPlaces: SEARCH_PLACES,
    searchStrategy: 'project',
    cache: false,
    loaders: {
      '.ts': loadScript,
      '.mts': loadScript,
      '.js': loadScript,
      '.mjs': loadScript,
      '.cjs': loadScript,
      '.json': defaultLoaders['.json'],
      '.yaml': defaultLoaders['.yaml'],
      '.yml': defaultLoaders['.yml'],
      noExt: defaultLoaders.noExt,
    },
  });

  let result: Awaited<ReturnType<typeof explorer.load>>;
  if (opts.configPath) {
    const file = path.resolve(cwd, opts.configPath);
    if (!existsSync(file)) {
      throw new ConfigError([{ path: '--config', message: `config file not found: ${file}` }], 'Check the path, or leave out --config to search the current directory.', 'CONFIG_NOT_FOUND');
    }
    if (statSync(file).isDirectory()) {
      throw new ConfigError([{ path: '--config', message: `${file} is a directory, not a config file` }], undefined, 'CONFIG_NOT_FOUND');
    }
    try {
      result = await explorer.load(file);
    } catch (error) {
      throw loadError(file, error);
    }
  } else {
    try {
      result = await explorer.search(cwd);
    } catch (error) {
      const file = (error as { filepath?: string }).filepath ?? /(\/\S+?):/.exec(String((error as Error)?.message))?.[1] ?? cwd;
      throw loadError(file, error);
    }
    if (!result) {
      throw new ConfigError(
        [{ path: '', message: `no LocalPort config found in ${cwd} or its parent directories` }],
        'Create localport.yaml or localport.config.ts (see the README), or pass --config FILE.',
        'CONFIG_NOT_FOUND',
      );
    }
  }
  if (!result || result.isEmpty || result.config == null) {
    throw new ConfigError([{ file: result?.filepath, path: '', message: 'the config is empty; declare at least `services:`' }], undefined, 'CONFIG_INVALID');
  }
  if (typeof result.config !== 'object' || Array.isArray(result.config)) {
    throw new ConfigError([{ file: result.filepath, path: '', message: 'the config must be an object with a `services` key' }]);
  }
  // Imported here: the guard reports key paths as the user wrote them (zod's schema knows the
  // spellings), and `stop` / `status` use this module only to find the file.
  const { checkConfigShape } = await import('./guard.js');
  checkConfigShape(result.config, result.filepath);
  return { file: result.filepath, raw: result.config };
}

/**
 * The config file's path without loading it — the same search as loadRawConfig (cosmiconfig's
 * `project` strategy over SEARCH_PLACES). Commands that talk to a running daemon use it, so that a
 * broken config on disk never stops you from seeing status or stopping the daemon.
 */
export function findConfigFile(opts: { configPath?: string; cwd?: string } = {}): string {
  const cwd = opts.cwd ?? process.cwd();
  if (opts.configPath) {
    const file = path.resolve(cwd, opts.configPath);
    if (!existsSync(file)) {
      throw new ConfigError([{ path: '--config', message: `config file not found: ${file}` }], 'Check the path, or leave out --config to search the current directory.', 'CONFIG_NOT_FOUND');
    }
    return file;
  }
  for (let dir = path.resolve(cwd); ; dir = path.dirname(dir)) {
    for (const place of SEARCH_PLACES) {
      const file = path.join(dir, place);
      if (!existsSync(file) || statSync(file).isDirectory()) continue;
      if (place === 'package.json') {
        try {
          if (JSON.parse(readFileSync(file, 'utf8')).localport === undefined) continue;
        } catch {
          continue;
        }
      }
      return file;
    }
    const root = existsSync(path.join(dir, 'package.json')) || existsSync(path.join(dir, 'package.yaml'));
    if (root || path.dirname(dir) === dir) break;
  }
  throw new ConfigError(
    [{ path: '', message: `no LocalPort config found in ${cwd} or its parent directories` }],
    'Create localport.yaml or localport.config.ts (see the README), or pass --config FILE.',
    'CONFIG_NOT_FOUND',
  );
}
