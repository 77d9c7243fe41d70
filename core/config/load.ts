import { existsSync, lstatSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { ConfigError, isUserError } from '../errors.js';
import { runConfigCode } from './code.js';
import { privateDirectory, userCacheDirectory } from '../privateDir.js';

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

/**
 * Set by the bundled CLI (scripts/bundle.mjs): its own copy of the public API, and a module that
 * re-exports it. A config must get the classes this process checks errors with (`instanceof
 * ConfigError`), not a second copy of them from dist/index.js.
 */
export const BUNDLED_API = Symbol.for('localport.bundledApi');

/** The module a config's `import … from 'localport'` resolves to, even when LocalPort is installed globally. */
function ownEntry(): string {
  const bundled = (globalThis as { [BUNDLED_API]?: { entry: string } })[BUNDLED_API];
  if (bundled) return bundled.entry;
  const js = fileURLToPath(new URL('../../index.js', import.meta.url));
  return existsSync(js) ? js : js.replace(/\.js$/, '.ts');
}

/**
 * Imports a JavaScript or TypeScript module (ESM or CommonJS) with jiti, `localport` aliased to this
 * package. No module cache: the daemon reloads a changed config in the same process.
 */
export async function importModule(filepath: string): Promise<unknown> {
  const { createJiti } = await import('jiti');
  // jiti's file cache spares the transform (it loads Babel, ~100 ms of every command with a .ts config).
  // Never its default place, a shared directory under the temporary one ($TMPDIR/jiti), where another
  // local user could put the transpiled config LocalPort would then run (found by the #15 attacker
  // pass): only a directory of this user's that nobody else can write to, or no cache. A cached file is
  // used only while it ends with the hash of the config's source (a changed config is transpiled again).
  const jiti = createJiti(import.meta.url, { alias: { localport: ownEntry() }, moduleCache: false, fsCache: userCacheDirectory('jiti') ?? false, interopDefault: true });
  // Not jiti.import: for a file Node can load itself (.mjs, .cjs) jiti hands over to Node's import(),
  // whose cache no option clears, and a hot reload would see the first version for ever. Evaluating
  // the file's source through jiti's transform reads it anew each time, `localport` alias included.
  const source = readFileSync(filepath, 'utf8');
  const mod = (await jiti.evalModule(source, { filename: filepath, async: true, forceTranspile: true })) as { default?: unknown } | undefined;
  return mod && typeof mod === 'object' && 'default' in mod ? mod.default : mod;
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

/** A JSON config that does not parse, with where: JSON.parse says only "at position N", if that. */
class JsonSyntaxError extends Error {
  constructor(
    readonly reason: string,
    readonly line: number,
    readonly column: number,
  ) {
    super(reason);
  }
}

/**
 * Where JSON.parse failed in `text`, as an offset. V8 gives "at position N" for most mistakes, nothing
 * for a misspelt literal (`tru`) — then the shortest prefix that fails before its own end ends at the
 * culprit (a prefix of valid JSON only ever fails at its end: "Unexpected end", or a position = its length).
 */
function jsonErrorOffset(text: string, message: string): number {
  const position = (m: string) => {
    const at = /at position (\d+)/.exec(m);
    return at ? Number(at[1]) : /Unexpected end of JSON input/.test(m) ? Infinity : undefined;
  };
  const at = position(message);
  if (at !== undefined) return Math.min(at, text.length);
  const failsEarly = (k: number) => {
    try {
      JSON.parse(text.slice(0, k));
      return false;
    } catch (e) {
      const p = position((e as Error).message);
      return p === undefined || p < k;
    }
  };
  let lo = 0;
  let hi = text.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (failsEarly(mid)) hi = mid;
    else lo = mid + 1;
  }
  return Math.max(0, lo - 1);
}

/** The `.json` loader: JSON.parse, and on failure the reason with a line and column. */
function loadJson(_file: string, content: string): unknown {
  const text = content.replace(/^\uFEFF/, '');
  try {
    return JSON.parse(text);
  } catch (error) {
    const message = (error as Error).message;
    const offset = jsonErrorOffset(text, message);
    const before = text.slice(0, offset).split('\n');
    // V8 quotes the source around the mistake: the line/column say where, and a quote could hold a secret.
    const reason = message
      .replace(/, (\.\.\.)?".*" is not valid JSON$/s, '')
      .replace(/ in JSON at position \d+.*$/s, '')
      .replace(/[\r\n\t]/g, (c) => JSON.stringify(c).slice(1, -1));
    throw new JsonSyntaxError(reason, before.length, before[before.length - 1].length + 1);
  }
}

/** What the OS said when a config could not be read, in words. */
const READ_ERRORS: Record<string, string> = {
  EACCES: 'permission denied',
  EPERM: 'permission denied',
  EISDIR: 'it is a directory, not a file',
  ELOOP: 'it is a symbolic link that points to itself (a loop)',
  ENOENT: 'it does not exist (a symbolic link to a missing file?)',
  ENOTDIR: 'a part of its path is not a directory',
  EIO: 'an I/O error',
};

/** Turns a loader's exception into a ConfigError that names the file and, for YAML/JSON, the line. */
function loadError(file: string, error: unknown): ConfigError {
  if (isUserError(error)) return error as ConfigError;
  const e = error as { name?: string; code?: string; path?: string; syscall?: string; reason?: string; mark?: { line: number; column: number }; message?: string };
  if (typeof e?.code === 'string' && (e.path === file || (e.syscall === 'read' && e.path === undefined))) {
    // Not a syntax error: the file itself could not be read (a TS config's own fs errors name other paths).
    return new ConfigError(
      [{ file, path: '', message: `cannot read the config file: ${READ_ERRORS[e.code] ?? e.code} (${e.code})` }],
      e.code === 'EACCES' || e.code === 'EPERM' ? 'Make the file readable by this user, or pass another one with --config FILE.' : 'Fix or remove it, or pass another one with --config FILE.',
      'CONFIG_UNREADABLE',
    );
  }
  if (e instanceof JsonSyntaxError) {
    return new ConfigError([{ file: `${file}:${e.line}:${e.column}`, path: '', message: `JSON syntax error: ${e.reason}` }], 'Fix the JSON syntax at that line.', 'CONFIG_SYNTAX');
  }
  if (e?.name === 'YAMLException' && e.mark) {
    return new ConfigError([{ file: `${file}:${e.mark.line + 1}:${e.mark.column + 1}`, path: '', message: `YAML syntax error: ${e.reason}` }], 'Fix the YAML syntax at that line.', 'CONFIG_SYNTAX');
  }
  const message = firstLine(e?.message ?? String(error)).replace(`${file}: `, '').replace(/^JSON Error in \S+:\s*/, '');
  const kind = /\.json$|package\.json$/.test(file) ? 'JSON syntax error' : /\.[cm]?[jt]s$/.test(file) ? 'could not load config' : 'YAML syntax error';
  return new ConfigError([{ file, path: '', message: `${kind}: ${message}` }], undefined, 'CONFIG_SYNTAX');
}

/**
 * Finds and loads the config file. With `configPath`, loads exactly that file; otherwise takes the
 * file findConfigFile chooses — the same one `status` and `stop` use — and never looks past it: an
 * empty or unreadable config is an error naming it, not a reason to use a parent directory's config.
 */
export async function loadRawConfig(opts: { configPath?: string; cwd?: string } = {}): Promise<RawConfig> {
  const cwd = opts.cwd ?? process.cwd();
  const file = findConfigFile({ configPath: opts.configPath, cwd });
  const { cosmiconfig, defaultLoaders } = await import('cosmiconfig');
  // cosmiconfig looks for a meta config of its own in the working directory as it is created, and
  // throws a bare EACCES if that directory cannot be read.
  const explorer = unreadable(process.cwd(), () => withoutMetaConfig(() => cosmiconfig('localport', {
    searchPlaces: SEARCH_PLACES,
    searchStrategy: 'project',
    cache: false,
    loaders: {
      '.ts': loadScript,
      '.mts': loadScript,
      '.js': loadScript,
      '.mjs': loadScript,
      '.cjs': loadScript,
      '.json': loadJson,
      '.yaml': defaultLoaders['.yaml'],
      '.yml': defaultLoaders['.yml'],
      noExt: defaultLoaders.noExt,
    },
  })));

  if (opts.configPath && statSync(file).isDirectory()) {
    throw new ConfigError([{ path: '--config', message: `${file} is a directory, not a config file` }], undefined, 'CONFIG_NOT_FOUND');
  }
  checkConfigFile(file);
  let result: Awaited<ReturnType<typeof explorer.load>>;
  try {
    result = await explorer.load(file);
  } catch (error) {
    throw loadError(file, error);
  }
  if (!result || result.isEmpty || result.config == null) {
    throw new ConfigError(
      [{ file, path: '', message: 'the config is empty; declare at least `services:`' }],
      opts.configPath ? undefined : 'LocalPort uses the first config it finds from the current directory up, and never skips one: fill in this file, remove it, or pass --config FILE.',
      'CONFIG_INVALID',
    );
  }
  if (typeof result.config !== 'object' || Array.isArray(result.config)) {
    throw new ConfigError([{ file: result.filepath, path: '', message: 'the config must be an object with a `services` key' }]);
  }
  // Imported here: the guard reports key paths as the user wrote them (zod's schema knows the
  // spellings), and `stop` / `status` use this module only to find the file.
  const { checkConfigShape } = await import('./guard.js');
  return { file: result.filepath, raw: checkConfigShape(result.config, result.filepath) };
}

/** A hand-written config is a few KB, a generated one a few hundred: anything past this is a mistake. */
export const MAX_CONFIG_FILE_BYTES = 4 * 1024 * 1024;

const FILE_KINDS: [keyof import('node:fs').Stats, string][] = [
  ['isFIFO', 'a named pipe (FIFO)'],
  ['isCharacterDevice', 'a character device'],
  ['isBlockDevice', 'a block device'],
  ['isSocket', 'a socket'],
];

/**
 * Before a config or preset file is read: it must be a regular file (through any symlinks) of a sane
 * size. Reading a FIFO blocks until someone writes to it, and blocks a thread of Node's pool for
 * good, which wedges a daemon's every later file operation; /dev/zero never ends. Directories are
 * left to the callers, which say more about them.
 */
export function checkConfigFile(file: string, where: { file?: string; path: string } = { path: '' }): void {
  let st: import('node:fs').Stats;
  try {
    st = statSync(file);
  } catch (error) {
    throw loadError(file, error);
  }
  if (st.isDirectory()) return;
  const at = where.file ?? file;
  const subject = where.file ? `${file} ` : '';
  if (!st.isFile()) {
    const kind = FILE_KINDS.find(([test]) => (st[test] as () => boolean)())?.[1] ?? 'not a regular file';
    throw new ConfigError([{ file: at, path: where.path, message: `${subject}is ${kind}, not a regular file; a config is read from a file` }], 'Point it at a regular file.', 'CONFIG_UNREADABLE');
  }
  if (st.size > MAX_CONFIG_FILE_BYTES) {
    throw new ConfigError(
      [{ file: at, path: where.path, message: `${subject}is ${(st.size / 1024 / 1024).toFixed(1)} MiB; a config is at most ${MAX_CONFIG_FILE_BYTES / 1024 / 1024} MiB` }],
      'Is this the right file?',
      'CONFIG_TOO_LARGE',
    );
  }
}

/** Runs `fn`; a permission error on the way (a directory this user cannot read) becomes a ConfigError naming `dir`. */
/**
 * cosmiconfig, as an explorer is made, reads a "meta config" of its own from the working directory:
 * package.json's `cosmiconfig` key and `.config/config.{json,yaml,js,ts,…}` — and runs a
 * `.config/config.js` it finds there, whatever config LocalPort was asked to load (a YAML file with
 * `-c` too), and fails on a package.json that is not JSON. LocalPort loads one file it chose itself
 * and wants none of it: the search is pointed at an empty directory of this user's for that moment.
 * (Found by the #15 attacker pass.)
 */
function withoutMetaConfig<T>(make: () => T): T {
  // A directory of this user's that nobody else can write to and nothing writes to stays empty: no need
  // to make one per process (a mkdtemp, a scan of the temp directory for leftovers, a removal at exit:
  // ~3 ms of every command).
  // Where neither can be made (no writable state or temp directory), a directory that does not exist and
  // that nobody can make (only the kernel makes entries in /proc; elsewhere only root can make /proc):
  // cosmiconfig finds nothing there. Never the working directory: its .config/config.js would run.
  const empty = userCacheDirectory('empty') ?? privateDirectory('e') ?? '/proc/self/localport-no-meta-config';
  const cwd = process.cwd;
  process.cwd = () => empty;
  try {
    return make();
  } finally {
    process.cwd = cwd;
  }
}

function unreadable<T>(dir: string, fn: () => T): T {
  try {
    return fn();
  } catch (error) {
    const e = error as NodeJS.ErrnoException;
    if (e?.code !== 'EACCES' && e?.code !== 'EPERM') throw error;
    throw new ConfigError(
      [{ path: '', message: `cannot search ${e.path ?? dir} for a config: permission denied (${e.code})` }],
      'Run LocalPort from a directory this user can read, or pass --config FILE.',
      'CONFIG_UNREADABLE',
    );
  }
}

/**
 * The config file's path without loading it — the same search as loadRawConfig (cosmiconfig's
 * `project` strategy over SEARCH_PLACES). Commands that talk to a running daemon use it, so that a
 * broken config on disk never stops you from seeing status or stopping the daemon.
 *
 * Not cosmiconfig's own `search()`, which cannot do this job: it finds a file by loading it (running
 * a TypeScript config's code, which `status` and `stop` must not), reads every candidate whole (a FIFO
 * by a config's name would block it for good), and skips an empty file, a directory, an unreadable
 * file or a dangling link by a config's name (EISDIR, EACCES, ENOENT) to take a parent directory's
 * config in silence, where LocalPort names that file and says what is wrong with it.
 */
/** The nearest directory from `dir` up that holds `.git`: the repository's root, or undefined outside one. */
function repositoryRoot(dir: string): string | undefined {
  for (let d = dir; ; d = path.dirname(d)) {
    try {
      if (lstatSync(path.join(d, '.git'), { throwIfNoEntry: false })) return d;
    } catch {
      /* unreadable: not known to be a repository */
    }
    if (path.dirname(d) === d) return undefined;
  }
}

export function findConfigFile(opts: { configPath?: string; cwd?: string } = {}): string {
  const cwd = opts.cwd ?? process.cwd();
  if (opts.configPath) {
    const file = path.resolve(cwd, opts.configPath);
    if (!existsSync(file)) {
      throw new ConfigError([{ path: '--config', message: `config file not found: ${file}` }], 'Check the path, or leave out --config to search the current directory.', 'CONFIG_NOT_FOUND');
    }
    return file;
  }
  // Where the search ends: the repository's root (the directory holding `.git`, a directory or a
  // worktree's file), so that a package of a monorepo finds the config at the root; outside a repository,
  // the nearest project root (a directory with package.json), else the filesystem's root.
  const repoRoot = repositoryRoot(path.resolve(cwd));
  let dir = path.resolve(cwd);
  for (; ; dir = path.dirname(dir)) {
    for (const place of SEARCH_PLACES) {
      const file = path.join(dir, place);
      // Anything by a config's name is the config, even a directory or a dangling link: loading it
      // then says what is wrong with it, where skipping it would quietly pick a parent's config.
      if (!unreadable(dir, () => lstatSync(file, { throwIfNoEntry: false }))) continue;
      if (place === 'package.json') {
        try {
          const st = statSync(file);
          if (!st.isFile() || st.size > MAX_CONFIG_FILE_BYTES) continue;
          if (JSON.parse(readFileSync(file, 'utf8')).localport === undefined) continue;
        } catch {
          continue;
        }
      }
      return file;
    }
    const projectRoot = repoRoot === undefined && (existsSync(path.join(dir, 'package.json')) || existsSync(path.join(dir, 'package.yaml')));
    if (dir === repoRoot || projectRoot || path.dirname(dir) === dir) break;
  }
  // Where the search stopped, and why: the user may have expected it to go further up.
  const why = dir === repoRoot ? "the repository's root" : path.dirname(dir) === dir ? '' : "the project's root, with a package.json";
  const upTo = !why ? ' or its parent directories' : dir === path.resolve(cwd) ? ` (${why}, where the search stops)` : ` or its parents up to ${dir} (${why}, where the search stops)`;
  throw new ConfigError(
    [{ path: '', message: `no LocalPort config found in ${cwd}${upTo}` }],
    'Create localport.yaml or localport.config.ts (see the README), or pass --config FILE.',
    'CONFIG_NOT_FOUND',
  );
}
