/**
 * Error classes, and the one table of error codes. Every error a user can cause carries a stable
 * `code` from ERROR_CODES, says what to do, and is printed without a stack. Anything else is a bug
 * and is printed with its stack: LocalPort's own, or a plugin's (PluginError with `bug: true`).
 */

import { types } from 'node:util';
import type { FailureClass } from './types.js';

/** 2: a mistake in the config or on the command line; 1: a failure at run time; 127: `run`'s command not found, as a shell says it. */
export type ExitCode = 1 | 2 | 127;

/**
 * Every code LocalPort gives an error, what it means, and the exit code it ends a command with:
 * 2 for a mistake in the config or on the command line, 1 for something that failed at run time.
 * The README's table is checked against this one (test/unit/error-codes.test.ts).
 */
export const ERROR_CODES = {
  USAGE: { exit: 2, meaning: 'a mistake on the command line: an unknown service or tag, a bad option value, nothing selected to start' },
  CONFIG_INVALID: { exit: 2, meaning: 'the config breaks a rule: a key, a value, a service; one line per problem' },
  CONFIG_NOT_FOUND: { exit: 2, meaning: 'no config file was found, or --config names none' },
  CONFIG_SYNTAX: { exit: 2, meaning: 'the config file is not valid YAML, JSON or JavaScript' },
  CONFIG_UNREADABLE: { exit: 2, meaning: 'the config file cannot be read (permissions, not a regular file)' },
  CONFIG_TOO_LARGE: { exit: 2, meaning: 'the config is too large or nests too deep (YAML aliases that expand)' },
  CONFIG_CYCLE: { exit: 2, meaning: 'the config refers to itself' },
  CONFIG_BIND_ADDRESS: { exit: 2, meaning: 'a bind address is not an address of this machine' },
  CONFIG_EXIT: { exit: 2, meaning: 'config, preset or plugin code called process.exit while it loaded' },
  CONFIG_TIMEOUT: { exit: 2, meaning: 'config, preset or plugin code did not finish loading in time (LOCALPORT_CONFIG_TIMEOUT)' },
  PRESET_NOT_FOUND: { exit: 2, meaning: 'a preset or plugin package in `extends`/`plugins` is not installed' },
  PRESET_NO_ENTRY: { exit: 2, meaning: 'a preset or plugin package has no entry file to load' },
  PRESET_INVALID: { exit: 2, meaning: 'a preset or plugin package does not export a preset or plugin' },
  PRESET_MISSING_DEPENDENCY: { exit: 2, meaning: 'a preset or plugin package needs a package that is not installed' },
  PRESET_LOAD_FAILED: { exit: 2, meaning: 'a preset or plugin package threw while it loaded' },
  PRESET_CYCLE: { exit: 2, meaning: 'presets extend each other in a circle' },
  PLUGIN_INVALID: { exit: 2, meaning: 'a `plugins` entry is not a plugin (a factory not called?)' },
  PLUGIN_DUPLICATE: { exit: 2, meaning: 'one plugin is listed twice with different options' },
  REGISTRY_DUPLICATE: { exit: 2, meaning: 'two plugins register the same technology, health check or formatter type' },
  REGISTRY_UNKNOWN: { exit: 2, meaning: 'no plugin registers the technology, health check or formatter asked for' },
  PLUGIN_FAILED: { exit: 1, meaning: "a plugin threw: an Error of its own is one line naming the plugin and the hook; a bug (a TypeError, a ReferenceError…) also prints its stack and the plugin to report it to" },
  PLUGIN_CONTRACT: { exit: 1, meaning: "a plugin's hook returned what the hook does not take (the message says what): a bug to report to the plugin's author" },
  BEFORE_START_FAILED: { exit: 1, meaning: "a plugin's beforeStart tap threw, so the service was not started" },
  START_FAILED: { exit: 1, meaning: 'a service could not be started, or its tunnel exited' },
  START_TIMEOUT: { exit: 1, meaning: 'a service was not ready, or not healthy, within the time allowed (--timeout)' },
  COMMAND_NOT_FOUND: { exit: 127, meaning: 'run -- COMMAND: the command is not on PATH (exit 127, as a shell gives)' },
  AUTH_REJECTED: { exit: 1, meaning: 'a server or a health check refused the credentials; not retried' },
  HEALTH_FAILED: { exit: 1, meaning: "a plugin failed a service on its health check's result" },
  BIND_FAILED: { exit: 1, meaning: "a service's local address cannot be listened on (not this machine's, or needs privileges)" },
  PORT_IN_USE: { exit: 1, meaning: "a service's local port is taken by another process" },
  DAEMON_NOT_RUNNING: { exit: 1, meaning: '`daemon reload` without a daemon. (`daemon status`, `daemon stop` and `stop` without one have nothing to do: exit 0, `running: false`)' },
  DAEMON_RUNNING: { exit: 1, meaning: 'a daemon already runs for this config' },
  DAEMON_STOPPING: { exit: 1, meaning: 'the daemon is shutting down and takes no more requests' },
  DAEMON_START_FAILED: { exit: 1, meaning: 'the daemon did not start (its log says why)' },
  DAEMON_STOP_FAILED: { exit: 1, meaning: 'the daemon did not exit in time' },
  DAEMON_UNREACHABLE: { exit: 1, meaning: 'the daemon runs but does not answer on its control socket' },
  DAEMON_TIMEOUT: { exit: 1, meaning: 'the daemon did not answer a request in time' },
  DAEMON_BAD_REPLY: { exit: 1, meaning: 'the daemon answered with something that is not JSON' },
  DAEMON_SOCKET_UNSAFE: { exit: 1, meaning: 'the control socket, or its directory, is not yours: nothing is sent to it' },
  STATE_UNWRITABLE: { exit: 1, meaning: "the state directory (logs, sockets, caches) cannot be made or written (a read-only or foreign LOCALPORT_STATE_DIR, XDG_STATE_HOME or home), or a log in it is not a regular file (a FIFO)" },
  UI_FAILED: { exit: 1, meaning: "the daemon's HTTP server (/metrics, the dashboard) cannot listen, or already listens on another port than the one asked for" },
  UI_PORT_IN_USE: { exit: 1, meaning: "the port asked for the daemon's HTTP server (--port, --ui-port, ui.port) is taken by another program" },
  RELOAD_FAILED: { exit: 2, meaning: '`daemon reload`: the new config is invalid; the daemon keeps running the previous one' },
  BAD_REQUEST: { exit: 1, meaning: 'control socket: a request that is not JSON or not a known method (seen only by other clients)' },
  MESSAGE_TOO_LARGE: { exit: 1, meaning: 'control socket: a request longer than 1 MiB (seen only by other clients)' },
  TOO_MANY_SUBSCRIBERS: { exit: 1, meaning: 'control socket: 64 event subscribers (`localport events`) are connected already' },
  INTERNAL: { exit: 1, meaning: "a bug in the daemon, or an error code this CLI does not know (a daemon of another version)" },
} as const satisfies Record<string, { exit: ExitCode; meaning: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export const isErrorCode = (code: unknown): code is ErrorCode => typeof code === 'string' && Object.hasOwn(ERROR_CODES, code);

export class LocalPortError extends Error {
  /** Stable, machine-readable identifier (shown in `--output json`). */
  readonly code: ErrorCode;
  /** From ERROR_CODES: 2 for config and usage errors, 1 for runtime failures. */
  readonly exitCode: ExitCode;
  /** The service this error concerns, when there is one. */
  readonly service?: string;
  /** What the user can do about it. */
  readonly hint?: string;

  constructor(code: ErrorCode, message: string, opts: { service?: string; hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = ERROR_CODES[code].exit;
    this.service = opts.service;
    this.hint = opts.hint;
  }
}

export interface ConfigProblem {
  /** The file the problem is in, when known. */
  file?: string;
  /** Key path as the user wrote it, e.g. `services[1] (web).local_port`. */
  path: string;
  message: string;
}

/** One or more problems with the configuration or the command line. Exit code 2. */
export class ConfigError extends LocalPortError {
  readonly problems: ConfigProblem[];

  /** `problems`: one message, or the problems with where each is (`{ path, message }`). */
  constructor(problems: ConfigProblem[] | ConfigProblem | string, hint?: string, code: ErrorCode = 'CONFIG_INVALID') {
    // A plugin's config code is not type-checked when jiti loads it: take the obvious shapes too.
    const list = typeof problems === 'string' ? [{ path: '', message: problems }] : Array.isArray(problems) ? problems : [problems];
    super(code, list.map(formatProblem).join('\n'), { hint });
    this.problems = list;
  }
}

export function formatProblem(p: ConfigProblem): string {
  const where = [p.file, p.path].filter(Boolean).join(': ');
  return where ? `${where}: ${p.message}` : p.message;
}

/** A user mistake on the command line (unknown service, bad option value). Exit code 2. */
export class UsageError extends LocalPortError {
  constructor(message: string, hint?: string) {
    super('USAGE', message, { hint });
  }
}

/** A service could not be started or kept running. Exit code 1. */
export class ServiceError extends LocalPortError {
  constructor(code: ErrorCode, service: string, message: string, hint?: string, cause?: unknown) {
    super(code, message, { service, hint, cause });
  }
}

/**
 * A start attempt or a running forward failed, classified so the supervisor knows whether another
 * attempt may help (see `FailureClass`). `AUTH_REJECTED` is the code of every `rejected` failure.
 */
export class ServiceFailure extends ServiceError {
  constructor(
    code: ErrorCode,
    service: string,
    message: string,
    readonly failure: FailureClass,
    hint?: string,
  ) {
    super(code, service, message, hint);
  }
}

/** How an error from a start attempt is treated: a plain error is `permanent`. */
export function failureClass(error: unknown): FailureClass {
  return error instanceof ServiceFailure ? error.failure : 'permanent';
}

/** The errors JavaScript itself throws for a mistake in code: calling undefined, a misspelt name, a bad regex. */
const PROGRAMMING_ERRORS = new Set(['TypeError', 'ReferenceError', 'RangeError', 'SyntaxError', 'EvalError', 'URIError']);

/** Whether `e` is JavaScript's own verdict on a mistake in code (from any realm), not an Error thrown on purpose. */
export const isProgrammingError = (e: unknown): boolean => (e instanceof Error || types.isNativeError(e)) && PROGRAMMING_ERRORS.has((e as Error).name);

/**
 * An exception thrown by a plugin, wrapped with the plugin's name and the hook it failed in.
 * A plugin that rejects what the user wrote throws a LocalPortError (ConfigError, UsageError): that
 * keeps its code, exit code and hint, and prints as one line. An Error it throws on purpose (`throw
 * new Error('no change ticket for b')`) is PLUGIN_FAILED, one line too. A TypeError, ReferenceError…
 * is the plugin's bug: `bug` is true, and the CLI prints the stack with the plugin to report it to.
 */
export class PluginError extends LocalPortError {
  readonly plugin: string;
  readonly hook: string;
  /** True when the plugin failed by a bug of its own rather than by rejecting the user's input. */
  readonly bug: boolean;
  /** A rejected config's problems, passed on from the plugin's ConfigError. */
  readonly problems?: ConfigProblem[];

  constructor(plugin: string, hook: string, cause: unknown) {
    const rejected = cause instanceof LocalPortError ? cause : undefined;
    const inner = cause instanceof Error ? cause.message : String(cause);
    super(rejected?.code ?? 'PLUGIN_FAILED', `plugin ${plugin} failed in ${hook}: ${inner}`, { cause, hint: rejected?.hint, service: rejected?.service });
    this.plugin = plugin;
    this.hook = hook;
    this.bug = isProgrammingError(cause);
    if (rejected instanceof ConfigError) this.problems = rejected.problems;
  }
}

/** True for errors that are the user's to fix: printed without a stack. A plugin's bug is not one. */
export function isUserError(error: unknown): error is LocalPortError {
  return error instanceof LocalPortError && !(error instanceof PluginError && error.bug);
}
