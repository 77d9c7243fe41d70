/**
 * Runs the bundled CLI (dist/cli/bundle.cjs) with V8's code cache. Without one, every command parses
 * 1.2 MB of JavaScript and compiles each function it calls again: about a third of what `localport
 * status` costs (issue #15). Node 20 has no cache of its own; Node 22's `module.enableCompileCache()`
 * saves a module's code before it runs, and measured slower here than this cache, which is written
 * after the command ran, so that it holds every function the command compiled. It is written by the
 * first command after a build of the bundle (per Node version), and again by each other command the
 * first time it runs (COMMAND_KEY): a cache the first command wrote holds only that command's functions,
 * and whatever else a later command calls is compiled on every run (`status` after a first `start
 * --help`: 13 ms more on Node 24). So it grows to what the user runs, at most once per command.
 *
 * The cache is code V8 runs: it is read only from a directory this user owns and nobody else can
 * write to. NODE_DISABLE_COMPILE_CACHE=1 turns it off, NODE_COMPILE_CACHE=DIR moves it (as for Node's own).
 */
import { parentProblem } from '../core/parentDir.js';
import { COMMAND_KEY } from './compiledKey.js';

// Not `import`: see bin.ts (an ES module importing node:fs loads fs/promises and its dependencies).
const { isAscii } = process.getBuiltinModule('node:buffer');
const { lstatSync, mkdirSync, readdirSync, readFileSync, realpathSync, renameSync, rmSync, statSync, writeFileSync } = process.getBuiltinModule('node:fs');
const { createRequire } = process.getBuiltinModule('node:module');
const os = process.getBuiltinModule('node:os');
const path = process.getBuiltinModule('node:path');
const vm = process.getBuiltinModule('node:vm');

/** A directory, made 0700 if it is not there; its parent must be. */
function makeDir(dir: string): void {
  try {
    mkdirSync(dir, { mode: 0o700 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
}

/**
 * The cache directory: created 0700, and used only if it is a directory of ours that only we can write.
 * None (the command runs without a cache) where the place is not one: a relative NODE_COMPILE_CACHE or
 * TMPDIR (it would be made in whatever directory the command runs in), or one under /proc or /dev (the
 * process's own views: /proc/self/cwd is the working directory, and Node's recursive mkdir never returns
 * under /proc/self). Nothing is made recursively: a missing parent means no cache.
 */
export function compileCacheDir(): string | undefined {
  const uid = process.getuid?.();
  if (process.env.NODE_DISABLE_COMPILE_CACHE || uid === undefined) return undefined;
  const base = process.env.NODE_COMPILE_CACHE || undefined;
  const parent = base ?? os.tmpdir();
  const special = (p: string) => /^\/(proc|dev)(\/|$)/.test(p);
  if (!path.isAbsolute(parent) || special(path.resolve(parent))) return undefined;
  const dir = base ? path.join(base, 'localport') : path.join(parent, `localport-compile-cache-${uid}`);
  try {
    // Through links too (/dev/fd is /proc/self/fd): the real place of each parent, before a directory is made in it.
    const inSpecial = (p: string) => special(realpathSync(p));
    if (base && inSpecial(path.dirname(base))) return undefined;
    if (base) makeDir(base);
    if (inSpecial(parent)) return undefined;
    makeDir(dir);
    const st = lstatSync(dir);
    // And under parents nobody else can rename it in: between this check and the read, a directory
    // swapped in would have V8 run someone else's code cache.
    return st.isDirectory() && st.uid === uid && (st.mode & 0o022) === 0 && parentProblem(dir) === undefined ? dir : undefined;
  } catch {
    return undefined;
  }
}

/** FNV-1a of a string, in hex: tells apart the caches of two installations in one directory. */
function fnv(text: string): string {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193) >>> 0;
  return h.toString(16);
}

/**
 * Where the CLI says what this run compiled (globals.ts, compiledFor): the command's path, and
 * `(code config)` after it for a .ts or .js config. The cache lists those it holds; from the CLI's own
 * registry, so the list stays about as short as the command list.
 */
export { COMMAND_KEY };

/**
 * A cache file is V8's data, then the JSON list of the commands it holds, then that list's length
 * (4 bytes). Anything that does not parse is no cache (it is replaced after the command).
 */
function readCache(file: string): { data: Buffer; commands: string[] } | undefined {
  let bytes: Buffer;
  try {
    bytes = readFileSync(file);
  } catch {
    return undefined; // not written yet
  }
  if (bytes.length < 4) return undefined;
  const n = bytes.readUInt32BE(bytes.length - 4);
  if (n > 4096 || n + 4 > bytes.length) return undefined;
  try {
    const commands: unknown = JSON.parse(bytes.subarray(bytes.length - 4 - n, bytes.length - 4).toString('latin1'));
    if (!Array.isArray(commands) || !commands.every((c) => typeof c === 'string')) return undefined;
    return { data: bytes.subarray(0, bytes.length - 4 - n), commands };
  } catch {
    return undefined;
  }
}

/** `dir`: the cache directory compileCacheDir() gave (bin.ts asked already), or none. */
export function runBundle(file: string, dir: string | undefined): void {
  const bytes = readFileSync(file);
  // The build writes it in ASCII (scripts/bundle.mjs): Latin-1 then reads it as it is, without decoding UTF-8.
  const source = isAscii(bytes) ? bytes.toString('latin1') : bytes.toString('utf8');
  // V8 checks a cache against the source's length, not its content: the name says which build it is for.
  const st = statSync(file);
  const prefix = `${fnv(file)}-${process.version}-${process.arch}-`;
  const cacheFile = dir && path.join(dir, `${prefix}${st.size}-${Math.trunc(st.mtimeMs)}-${st.ino}.v8`);
  const cached = cacheFile ? readCache(cacheFile) : undefined;
  // Node's own CommonJS wrapper, on the first line: line numbers in stacks stay the bundle's.
  // `import()` in a vm.Script needs --experimental-vm-modules (or warns, with Node's default loader): the
  // bundle imports through the function passed as __localportImporter (scripts/bundle.mjs), resolved from
  // this directory, which is the bundle's.
  const script = new vm.Script(`(function (exports, require, module, __filename, __dirname, __localportImporter) {${source}\n})`, { filename: file, cachedData: cached?.data });
  if (cacheFile) {
    process.once('exit', () => {
      const command = (globalThis as { [COMMAND_KEY]?: unknown })[COMMAND_KEY];
      const commands = cached && !script.cachedDataRejected ? cached.commands : [];
      const known = typeof command !== 'string' || commands.includes(command) || commands.length >= 64;
      if (cached && !script.cachedDataRejected && known) return;
      try {
        // What V8 holds now: the functions of the cache it was given and those this command compiled.
        const data = script.createCachedData();
        const list = Buffer.from(JSON.stringify(known ? commands : [...commands, command]), 'latin1');
        const length = Buffer.alloc(4);
        length.writeUInt32BE(list.length);
        const tmp = `${cacheFile}.${process.pid}.tmp`;
        writeFileSync(tmp, Buffer.concat([data, list, length]), { mode: 0o600 });
        renameSync(tmp, cacheFile);
        // This installation's caches of earlier builds, for this Node.
        for (const f of readdirSync(dir)) if (f.startsWith(prefix) && f.endsWith('.v8') && path.join(dir, f) !== cacheFile) rmSync(path.join(dir, f), { force: true });
      } catch {
        /* no cache this time */
      }
    });
  }
  const module = { exports: {} };
  (script.runInThisContext() as (...args: unknown[]) => void)(module.exports, createRequire(file), module, file, path.dirname(file), (specifier: string) => import(specifier));
}
