/**
 * Error classes. Every error a user can cause carries a stable `code`, says what to do,
 * and is printed without a stack. Anything else is a bug and is printed with its stack.
 */

import type { FailureClass } from './types.js';

export type ExitCode = 1 | 2;

export class LocalPortError extends Error {
  /** Stable, machine-readable identifier (shown in `--output json`). */
  readonly code: string;
  /** 2 for config and usage errors, 1 for runtime failures. */
  readonly exitCode: ExitCode;
  /** The service this error concerns, when there is one. */
  readonly service?: string;
  /** What the user can do about it. */
  readonly hint?: string;

  constructor(code: string, message: string, opts: { exitCode?: ExitCode; service?: string; hint?: string; cause?: unknown } = {}) {
    super(message, opts.cause === undefined ? undefined : { cause: opts.cause });
    this.name = new.target.name;
    this.code = code;
    this.exitCode = opts.exitCode ?? 1;
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

  constructor(problems: ConfigProblem[], hint?: string, code = 'CONFIG_INVALID') {
    super(code, problems.map(formatProblem).join('\n'), { exitCode: 2, hint });
    this.problems = problems;
  }
}

export function formatProblem(p: ConfigProblem): string {
  const where = [p.file, p.path].filter(Boolean).join(': ');
  return where ? `${where}: ${p.message}` : p.message;
}

/** A user mistake on the command line (unknown service, bad option value). Exit code 2. */
export class UsageError extends LocalPortError {
  constructor(message: string, hint?: string) {
    super('USAGE', message, { exitCode: 2, hint });
  }
}

/** A service could not be started or kept running. Exit code 1. */
export class ServiceError extends LocalPortError {
  constructor(code: string, service: string, message: string, hint?: string, cause?: unknown) {
    super(code, message, { service, hint, cause });
  }
}

/**
 * A start attempt or a running forward failed, classified so the supervisor knows whether another
 * attempt may help (see `FailureClass`). `AUTH_REJECTED` is the code of every `rejected` failure.
 */
export class ServiceFailure extends ServiceError {
  constructor(
    code: string,
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

/** An exception thrown by a plugin, wrapped with the plugin's name and the hook it failed in. */
export class PluginError extends LocalPortError {
  readonly plugin: string;
  readonly hook: string;

  constructor(plugin: string, hook: string, cause: unknown) {
    const inner = cause instanceof Error ? cause.message : String(cause);
    super('PLUGIN_FAILED', `plugin ${plugin} failed in ${hook}: ${inner}`, { cause });
    this.plugin = plugin;
    this.hook = hook;
  }
}

/** True for errors that are the user's to fix: printed without a stack. */
export function isUserError(error: unknown): error is LocalPortError {
  return error instanceof LocalPortError;
}
