import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { types } from 'node:util';
import { ConfigError, type ErrorCode } from '../errors.js';

/**
 * Running the code that a config brings: a TypeScript/JavaScript config, a preset, a plugin
 * package. That code runs inside LocalPort's process, so everything it can do to the process is
 * bounded here: it must finish within a time limit, it cannot end the process with `process.exit`
 * while it loads, what it throws is named, and an exception it throws later (from a timer) is
 * attributed to it rather than taken for LocalPort's own bug.
 */

export const DEFAULT_CONFIG_TIMEOUT_S = 10;

/** LOCALPORT_CONFIG_TIMEOUT (seconds) overrides the limit; anything but a positive number is ignored. */
export function configTimeoutMs(env: NodeJS.ProcessEnv = process.env): number {
  const s = Number(env.LOCALPORT_CONFIG_TIMEOUT);
  return (Number.isFinite(s) && s > 0 ? Math.min(s, 3600) : DEFAULT_CONFIG_TIMEOUT_S) * 1000;
}

/** An Error, also one made in another realm (a vm context), which `instanceof Error` misses. */
export const isError = (value: unknown): value is Error => value instanceof Error || types.isNativeError(value);

/** A value anything may have thrown, in a few words: the first line of an Error's message, or the value itself. */
export function describeValue(value: unknown, max = 120): string {
  const cut = (s: string) => (s.length > max ? `${s.slice(0, max)}…` : s);
  if (isError(value)) return cut(value.message.split('\n')[0].trim() || value.name);
  if (typeof value === 'string') return cut(`'${value}'`);
  if (typeof value === 'function') return 'a function';
  if (typeof value !== 'object' || value === null) return String(value);
  try {
    const json = JSON.stringify(value);
    if (json !== undefined) return cut(json);
  } catch {
    /* cyclic, a BigInt, a throwing toJSON: fall back to the tag */
  }
  return Object.prototype.toString.call(value);
}

/** Config, preset and plugin files LocalPort has run, with what each is (`plugin 'x'`). */
const codeFiles = new Map<string, string>();
/** Directories whose files count as a loaded file's code: a config's own directory, a plugin package's root. */
const codeDirs = new Map<string, string>();
/** LocalPort's own files (dist/ when built): never attributed to a config, even in a dev checkout. */
const OWN_ROOT = fileURLToPath(new URL('../../', import.meta.url));

/** The root of the npm package holding `file`, when it lives in node_modules. */
function packageRoot(file: string): string | undefined {
  const parts = file.split(path.sep);
  const i = parts.lastIndexOf('node_modules');
  if (i < 0 || i + 1 >= parts.length - 1) return undefined;
  return parts.slice(0, i + (parts[i + 1].startsWith('@') ? 3 : 2)).join(path.sep);
}

/**
 * Remembers `file` as code of the config. A config's neighbours (helpers it imports) count as the
 * config's, except those in node_modules; a package's files all count as the package's.
 */
export function registerCode(file: string, label: string): void {
  codeFiles.set(file, label);
  const pkg = packageRoot(file);
  if (pkg) codeDirs.set(pkg + path.sep, label);
  else if (!codeDirs.has(path.dirname(file) + path.sep)) codeDirs.set(path.dirname(file) + path.sep, label);
}

function labelOf(file: string): string | undefined {
  const exact = codeFiles.get(file);
  if (exact) return exact;
  if (file.startsWith(OWN_ROOT) && !file.includes(`${path.sep}node_modules${path.sep}`)) return undefined;
  let best: [string, string] | undefined;
  for (const [dir, label] of codeDirs) {
    if (!file.startsWith(dir) || (best && best[0].length >= dir.length)) continue;
    // In a config's directory, a dependency is not the config's code; in a package's, it is.
    if (!packageRoot(dir + 'x') && file.slice(dir.length).split(path.sep).includes('node_modules')) continue;
    best = [dir, label];
  }
  if (best) return best[1];
  // Neither LocalPort's nor a package's: a file the config imported from elsewhere (a shared plugin in
  // a parent folder). Only config code brings such files into the process.
  if (codeFiles.size > 0 && !file.startsWith(OWN_ROOT) && !file.split(path.sep).includes('node_modules')) return `code the config imports (${file})`;
  return undefined;
}

/** The files named by the frames of a stack, innermost first. */
function stackFiles(stack: string): string[] {
  const out: string[] = [];
  for (const line of stack.split('\n')) {
    const m = /^\s+at (?:.*?\()?((?:file:\/\/)?\/[^():]+):\d+:\d+\)?\s*$/.exec(line);
    if (!m) continue;
    try {
      out.push(m[1].startsWith('file://') ? fileURLToPath(m[1]) : m[1]);
    } catch {
      /* not a path */
    }
  }
  return out;
}

/**
 * Which loaded config, preset or plugin an uncaught exception came from, by its stack: the
 * innermost frame in one of their files. A value thrown without a stack (`throw 'x'` in a timer)
 * cannot be traced, but LocalPort throws only Errors, so once config code has run it is taken for
 * that code's. Undefined means LocalPort's own bug.
 */
export function originOf(error: unknown): string | undefined {
  const stack = isError(error) ? error.stack : undefined;
  if (typeof stack !== 'string') {
    if (codeFiles.size === 0) return undefined;
    return codeFiles.size === 1 ? `${[...codeFiles.values()][0]}` : `config code (one of ${[...codeFiles.values()].join(', ')})`;
  }
  for (const file of stackFiles(stack)) {
    const label = labelOf(file);
    if (label) return label;
  }
  return undefined;
}

/** What runConfigCode throws in place of a value thrown that is not an Error (`throw 'x'`, `throw {}`). */
export class ThrownValue extends Error {
  constructor(readonly value: unknown) {
    super(`it threw ${describeValue(value)}, not an Error`);
  }
}

/** Thrown by runConfigCode: the reason is worded to follow the file's name. */
export class ConfigCodeError extends ConfigError {
  constructor(
    readonly file: string,
    readonly reason: string,
    code: ErrorCode,
    hint?: string,
  ) {
    super([{ file, path: '', message: reason }], hint, code);
  }
}

/** The files on the current call stack, innermost first, deep enough to reach the config's own frame. */
function callerFiles(): string[] {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 50;
  const stack = new Error().stack ?? '';
  Error.stackTraceLimit = limit;
  return stackFiles(stack);
}

let realExit: typeof process.exit | undefined;
/** The files whose code is loading now, innermost last. */
const loadingFiles: string[] = [];
const exitCalls = new Map<string, number | string | null | undefined>();

/**
 * While config code loads, `process.exit` called from that code throws instead of ending the
 * process (and is remembered, should the code catch what it threw). Called from anywhere else, as
 * by LocalPort's own shutdown while a reload is under way, it exits as usual.
 */
function trapExit(file: string): () => void {
  if (loadingFiles.push(file) === 1) {
    const exit = process.exit;
    realExit = exit;
    process.exit = ((code?: number | string | null) => {
      const frames = callerFiles();
      // A loaded file by name, else the file loading now if a helper of config code is on the stack.
      const owner = frames.find((f) => codeFiles.has(f)) ?? (frames.some((f) => labelOf(f)) ? loadingFiles.at(-1) : undefined);
      // exit(undefined) would set exitCode to undefined: pass on exactly what was passed.
    if (!owner) return code === undefined ? exit() : exit(code);
      exitCalls.set(owner, code);
      throw new ConfigCodeError(owner, exitMessage(code), 'CONFIG_EXIT', EXIT_HINT);
    }) as typeof process.exit;
  }
  return () => {
    loadingFiles.splice(loadingFiles.lastIndexOf(file), 1);
    if (loadingFiles.length === 0 && realExit) {
      process.exit = realExit;
      realExit = undefined;
    }
  };
}

let exitGuarded = false;

/**
 * For the processes that keep tunnels up (`run`, the daemon): config, preset or plugin code that calls
 * `process.exit` later, from a timer or a hook, does not end the process either. The call throws
 * where it was made, so it is reported as that code's exception (naming its file) and LocalPort
 * carries on. LocalPort's own calls, and anything not traced to such a file, exit as usual.
 */
export function guardProcessExit(): void {
  if (exitGuarded) return;
  exitGuarded = true;
  const exit = process.exit;
  process.exit = ((code?: number | string | null) => {
    const frames = callerFiles();
    const owner = frames.find((f) => codeFiles.has(f));
    // exit(undefined) would set exitCode to undefined: pass on exactly what was passed.
    if (!owner) return code === undefined ? exit() : exit(code);
    // A plain Error: thrown from here, it is reported as the exception of the code that called.
    throw new Error(`called process.exit(${code === undefined ? '' : String(code)}); ignored: LocalPort keeps its tunnels up`);
  }) as typeof process.exit;
}

/** A process.exit that the code caught (or that failed something else first) still fails the load. */
function throwIfExited(): void {
  const [exited] = exitCalls;
  if (exited) throw new ConfigCodeError(exited[0], exitMessage(exited[1]), 'CONFIG_EXIT', EXIT_HINT);
}

const exitMessage = (code: unknown) => `called process.exit(${code === undefined ? '' : String(code)}) while it was loading`;
const EXIT_HINT = 'A config, preset or plugin must not end the process: throw an Error instead, and LocalPort reports it.';

/**
 * Runs config, preset or plugin code (importing it, calling its default export, a plugin factory)
 * against a deadline, with `process.exit` trapped. The deadline's timer is ref'd: a default export
 * that never resolves would otherwise leave Node an empty event loop, and Node exits 13 without a
 * word. A non-Error thrown becomes a ThrownValue, an Error that says what it was; Errors pass unchanged.
 */
export async function runConfigCode<T>(file: string, label: string, fn: () => T | Promise<T>, opts: { stage?: string; env?: NodeJS.ProcessEnv } = {}): Promise<T> {
  registerCode(file, label);
  if (loadingFiles.length === 0) exitCalls.clear();
  const ms = configTimeoutMs(opts.env);
  const release = trapExit(file);
  let timer: NodeJS.Timeout | undefined;
  try {
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(
        () =>
          reject(
            new ConfigCodeError(
              file,
              opts.stage
                ? `${opts.stage} did not finish within ${ms / 1000} s`
                : `did not finish loading within ${ms / 1000} s (a default export, factory or top-level await that never resolves?)`,
              'CONFIG_TIMEOUT',
              opts.stage
                ? 'A plugin must not wait forever in apply() or a configResolved tap. LOCALPORT_CONFIG_TIMEOUT (seconds) sets the limit.'
                : 'Make its default export a config object, or a function or promise that resolves to one. LOCALPORT_CONFIG_TIMEOUT (seconds) sets the limit.',
            ),
          ),
        ms,
      );
    });
    const result = await Promise.race([Promise.resolve().then(fn), deadline]);
    throwIfExited();
    return result;
  } catch (error) {
    if (!(error instanceof ConfigCodeError)) throwIfExited();
    if (isError(error)) throw error;
    throw new ThrownValue(error);
  } finally {
    clearTimeout(timer);
    release();
  }
}
