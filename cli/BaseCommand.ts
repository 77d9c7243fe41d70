import { Command, Option } from 'clipanion';
import { MAX_SECONDS, parseDuration } from '../core/config/limits.js';
import { UsageError } from '../core/errors.js';
import type { LocalPort } from '../core/LocalPort.js';
import { LOG_LEVELS, type LogLevel } from '../core/log.js';
import { printable } from '../core/printable.js';
import { Redactor } from '../core/redact.js';
import type { View } from '../core/types.js';
import type { Project } from '../app/project.js';
import { DEFAULT_OUTPUT } from '../app/output.js';
import { terminalWidth, useColor } from '../app/terminal.js';
import { compiledFor, globals } from './globals.js';

export { useColor };

/**
 * Options every command takes, and the one place errors become output and exit codes: an error is a
 * View of kind 'error', rendered by the formatter of `--output` like any other output (on stderr for
 * the human table, on stdout for any other format, so that a script reads one document), and its
 * exit code comes from its code (ERROR_CODES). The user's mistakes print without a stack; a bug,
 * LocalPort's or a plugin's, prints its stack and says whom to report it to.
 */
export abstract class BaseCommand extends Command {
  configOption = Option.String('-c,--config', { description: 'Config file to use instead of searching the current directory' });
  outputOption = Option.String('-o,--output', { description: `Output format: ${DEFAULT_OUTPUT} (default), json, text (one plain line per service, for scripts), or a format a formatter plugin registers` });
  json = Option.Boolean('--json', false, { description: 'Same as --output json' });
  logLevelOption = Option.String('--log-level', { description: `Log file level: ${LOG_LEVELS.join(', ')} (default info)` });
  colorOption = Option.Boolean('--color', { description: 'Colour the output, or with --no-color never; default: on a terminal, unless NO_COLOR is set (FORCE_COLOR forces it)' });

  /** Other names a command accepts for a format (`config export -o yaml`: its default output is YAML). */
  static outputAliases: Readonly<Record<string, string>> = {};

  /** Every substituted secret of this invocation; output and errors are redacted through it. */
  readonly redactor = new Redactor();

  /** The hub whose formatters render this command's output: the project's once it is loaded. */
  hub?: LocalPort;

  get configPath(): string | undefined {
    return this.configOption ?? globals.config;
  }

  /** The formatter to render with (an alias resolved); checked against the registry when rendering. */
  get output(): string {
    const asked = this.json ? 'json' : (this.outputOption ?? globals.output ?? DEFAULT_OUTPUT);
    return (this.constructor as typeof BaseCommand).outputAliases[asked] ?? asked;
  }

  get logLevel(): LogLevel {
    const level = (this.logLevelOption ?? globals.logLevel ?? 'info') as LogLevel;
    if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got '${level}')`);
    return level;
  }

  get color(): boolean {
    return useColor(this.context.stdout, this.colorOption ?? globals.color);
  }

  /** The columns a table must fit: the terminal's, unless the command has `--wide` and it was given. */
  get width(): number | undefined {
    return terminalWidth(this.context.stdout, (this as { wide?: boolean }).wide === true);
  }

  /**
   * A positive number of seconds from an option, or the default; anything else is a usage error.
   * Bounded like every duration in a config: a timer cannot wait longer (see MAX_SECONDS).
   */
  seconds(value: string | undefined, flag: string, fallback: number): number {
    if (value === undefined) return fallback;
    const n = parseDuration(value) ?? NaN;
    if (!Number.isFinite(n) || n <= 0 || n > MAX_SECONDS) {
      throw new UsageError(`${flag} must be a number of seconds above 0 and at most ${MAX_SECONDS} (about 24.8 days, the longest a timer can wait), or a duration such as 500ms, 30s or 2m (got '${value}')`);
    }
    return n;
  }

  /** A port flag's value (1–65535), or undefined when the flag is not given. */
  portNumber(value: string | undefined, flag: string): number | undefined {
    if (value === undefined) return undefined;
    const n = /^\d+$/.test(value.trim()) ? Number(value) : NaN;
    if (!Number.isInteger(n) || n < 1 || n > 65535) throw new UsageError(`${flag} must be a port number from 1 to 65535 (got '${value}')`);
    return n;
  }

  /** Whether to animate progress: stderr is a terminal with a width (a zero-width pty wraps every char). */
  get progressTty(): boolean {
    return process.stderr.isTTY === true && (process.stderr.columns ?? 0) > 0;
  }

  /** The config loaded (and `--output` checked against its formatters); its hub renders from now on. */
  /** Only the config's path: talking to a running daemon must work while the file on disk is broken. */
  async configFile(): Promise<string> {
    const { findConfigFile } = await import('../core/config/load.js');
    return findConfigFile({ configPath: this.configPath });
  }

  async loadProject(opts: { output?: boolean; variables?: 'strict' | 'lenient' } = {}): Promise<Project> {
    const { loadProject } = await import('../app/project.js');
    const project = await loadProject({ configPath: this.configPath, logLevel: this.logLevel, redactor: this.redactor, output: opts.output === false ? undefined : this.output, variables: opts.variables });
    this.hub = project.hub;
    if (project.config.file && /\.[cm]?[jt]s$/i.test(project.config.file)) compiledFor('(code config)');
    return project;
  }

  /**
   * The hub to render with, for commands that need no config (they talk to the daemon, read logs):
   * the built-in formatters, or, for a format only a plugin registers, the config's. Called before
   * the command acts, so that a format nobody registers fails before anything is done.
   */
  async outputHub(): Promise<LocalPort> {
    if (this.hub) return this.hub;
    const { builtinHub } = await import('../app/project.js');
    const builtin = await builtinHub(this.redactor);
    if (builtin.formatters.has(this.output)) return (this.hub = builtin);
    return (await this.loadProject()).hub;
  }

  /** Renders a view through the formatter registry, onto stdout. */
  async show(view: View): Promise<void> {
    const { render } = await import('../app/output.js');
    const text = render(await this.outputHub(), this.output, view, this.color, { width: this.width });
    // Nothing to list (`status -o text` without services) is no output, not an empty line a script would read.
    if (text !== '') this.context.stdout.write(`${text}\n`);
  }

  abstract run(): Promise<number>;

  async execute(): Promise<number> {
    try {
      return await this.run();
    } catch (error) {
      return this.report(error);
    }
  }

  async report(error: unknown): Promise<number> {
    const { errorView, exitCodeOf, render } = await import('../app/output.js');
    const view = errorView(error);
    let hub = this.hub;
    try {
      hub ??= await (await import('../app/project.js')).builtinHub(this.redactor);
    } catch {
      /* the built-in plugins always apply; should they not, the error is still printed below */
    }
    // The error may be the format itself (`-o xml`, or a formatter plugin that throws): it is then
    // said in the default format, on stderr, as any error is when the asked format cannot say it.
    const formats = [...new Set([hub?.formatters.has(this.output) ? this.output : DEFAULT_OUTPUT, DEFAULT_OUTPUT])];
    for (const format of formats) {
      // A machine format's error is a document on stdout, where its answer would be; the table's, and
      // the text format's (so that a script reading its lines never reads an error as one), on stderr.
      const stream = format === DEFAULT_OUTPUT || format === 'text' ? this.context.stderr : this.context.stdout;
      try {
        stream.write(`${render(hub!, format, view, useColor(stream))}\n`);
        return exitCodeOf(error);
      } catch {
        /* next: the default format */
      }
    }
    // Not even the default formatter could say it: plain lines.
    const reportTo = view.kind === 'error' && view.reportTo ? (view.reportTo === 'localport' ? 'LocalPort' : `the plugin's author (${view.reportTo.plugin})`) : undefined;
    const lines = [`error: ${view.message}`, view.hint && `hint: ${view.hint}`, view.stack, reportTo && `This is a bug. Please report it to ${reportTo}, with the output above.`].filter(Boolean);
    this.context.stderr.write(`${printable(this.redactor.text(lines.join('\n')))}\n`);
    return exitCodeOf(error);
  }
}
