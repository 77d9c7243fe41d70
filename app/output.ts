import { types } from 'node:util';
import { isUserError, LocalPortError, PluginError, ServiceError, UsageError } from '../core/errors.js';
import type { LocalPort } from '../core/LocalPort.js';
import type { View } from '../core/types.js';
import { didYouMean } from '../core/suggest.js';

/**
 * The output boundary: every command's output is a View rendered here, by a formatter from the
 * hub's registry, after every secret in it is redacted. This module stays light (the CLI imports it
 * before any command runs): the formatters themselves come with the hub.
 */

/**
 * The format used without `--output`: the table formatter the default preset registers. A choice of
 * the composition (the app), not of the CLI: the CLI only passes on what the user asked for.
 */
export const DEFAULT_OUTPUT = 'table';

/** An `--output` format no plugin registered is a usage error (exit 2) that lists those that are. */
export function checkFormat(hub: LocalPort, output: string, aliases: readonly string[] = []): void {
  if (hub.formatters.has(output)) return;
  const known = [...hub.formatters.types(), ...aliases].sort();
  throw new UsageError(`--output must be one of ${known.join(', ')} (got '${output}')${didYouMean(output, known)}`, 'A formatter plugin in the config can add a format.');
}

/**
 * Renders a view with the named formatter. This is where output is redacted, once, for every
 * command: a view may quote a config value, a tunnel's output or an error message. `stream`: one
 * item of a stream (`logs -f`, `status --watch`), one line in a machine format.
 */
export function render(hub: LocalPort, output: string, view: View, color: boolean, opts: { stream?: boolean; width?: number } = {}): string {
  checkFormat(hub, output);
  const plugin = hub.formatters.pluginOf(output) ?? '?';
  let text: unknown;
  try {
    text = hub.formatters.get(output).render(hub.redactor.data(view), { color, stream: opts.stream === true, ...(opts.width !== undefined ? { width: opts.width } : {}) });
  } catch (error) {
    if (error instanceof LocalPortError) throw error;
    throw new PluginError(plugin, `formatter '${output}'`, error);
  }
  // A formatter written before a view kind existed may know nothing to say about it.
  if (typeof text !== 'string') {
    throw new PluginError(plugin, `formatter '${output}'`, new LocalPortError('PLUGIN_CONTRACT', `it rendered ${text === undefined ? 'nothing' : `a ${typeof text}`} for a '${view.kind}' view; a formatter returns a string for every kind of View`));
  }
  return text;
}

/** The first PluginError with `bug` set along an error's `cause` chain (a bounded walk: a cause may be cyclic). */
function pluginBugIn(error: unknown): PluginError | undefined {
  let e: unknown = error;
  for (let i = 0; i < 8 && e instanceof Error; i++, e = e.cause) if (e instanceof PluginError && e.bug) return e;
  return undefined;
}

const stackOf = (value: unknown): string => ((value instanceof Error || types.isNativeError(value)) && value.stack ? value.stack : String(value));

/**
 * The error boundary: what a command failed with, as a View. The user's mistakes carry their code,
 * hint and problems and no stack; a plugin's bug carries the stack of what it threw and the plugin
 * to report it to; anything else is LocalPort's own bug (INTERNAL), with its stack.
 */
export function errorView(error: unknown): Extract<View, { kind: 'error' }> {
  // A plugin's bug wrapped on its way (BEFORE_START_FAILED around a beforeStart tap's TypeError) is still one.
  const bug = pluginBugIn(error);
  if (bug && bug !== error) {
    const e = error as LocalPortError;
    return { kind: 'error', code: e.code, message: e.message, service: e.service, stack: stackOf(bug.cause), reportTo: { plugin: bug.plugin } };
  }
  if (isUserError(error)) {
    const e = error as LocalPortError & { problems?: unknown[] };
    return { kind: 'error', code: e.code, message: e.message, service: e.service, hint: e.hint, problems: e.problems };
  }
  if (error instanceof PluginError) {
    return { kind: 'error', code: error.code, message: error.message, stack: stackOf(error.cause), reportTo: { plugin: error.plugin } };
  }
  const message = error instanceof Error || types.isNativeError(error) ? error.message : String(error);
  return { kind: 'error', code: 'INTERNAL', message, stack: stackOf(error), reportTo: 'localport' };
}

/**
 * `run`'s failure to bring its services up, as one error for a machine format (the table prints one
 * line per failure instead): every failure's message, the first one's code when it has one.
 */
export function startFailure(failures: Error[], total: number, logFile: string): LocalPortError {
  const first = failures[0];
  const names = failures.map((f) => (f instanceof ServiceError && f.service) || '?');
  const hint = `${failures.length} of ${total} could not start. Logs: ${logFile}`;
  // One failure is itself the error (its code, its exit code, a plugin's bug inside it with its stack).
  if (failures.length === 1 && first instanceof LocalPortError) return first;
  const code = first instanceof LocalPortError ? first.code : 'START_FAILED';
  return new ServiceError(code, names.join(', '), failures.map((f) => f.message).join('\n'), hint, first);
}

/** Whether a format is the human default: the progress tree and running news are for it only. */
export const isHumanOutput = (output: string) => output === DEFAULT_OUTPUT;

/** The exit code an error ends a command with: its code's (ERROR_CODES), or 1 for a bug. */
export const exitCodeOf = (error: unknown): number => (isUserError(error) ? error.exitCode : 1);
