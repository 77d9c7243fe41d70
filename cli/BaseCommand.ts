import { Command, Option } from 'clipanion';
import { MAX_SECONDS, parseDuration } from '../core/config/limits.js';
import { isUserError, UsageError, type LocalPortError } from '../core/errors.js';
import { LOG_LEVELS, type LogLevel } from '../core/log.js';
import { printable } from '../core/printable.js';
import { Redactor } from '../core/redact.js';
import { globals } from './globals.js';

export const useColor = (stream: NodeJS.WriteStream | NodeJS.WritableStream) =>
  (stream as NodeJS.WriteStream).isTTY === true && !('NO_COLOR' in process.env) && process.env.TERM !== 'dumb';

/**
 * Options every command takes, and the one place errors become exit codes:
 * 2 for config and usage errors, 1 for runtime failures, each printed without a stack;
 * anything else is a bug and is printed with its stack.
 */
export abstract class BaseCommand extends Command {
  configOption = Option.String('-c,--config', { description: 'Config file to use instead of searching the current directory' });
  outputOption = Option.String('-o,--output', { description: 'Output format: table (default) or json' });
  json = Option.Boolean('--json', false, { description: 'Same as --output json' });
  logLevelOption = Option.String('--log-level', { description: `Log file level: ${LOG_LEVELS.join(', ')} (default info)` });

  /** The `--output` formats the command itself knows. */
  static outputFormats: readonly string[] = ['table', 'json'];
  /** Whether the command renders through the formatter registry, so a plugin may add `--output` formats. */
  static pluginFormats = false;

  /** Every substituted secret of this invocation; errors are printed through it. */
  readonly redactor = new Redactor();

  get configPath(): string | undefined {
    return this.configOption ?? globals.config;
  }

  get output(): string {
    if (this.json) return 'json';
    return this.outputOption ?? globals.output ?? 'table';
  }

  get logLevel(): LogLevel {
    const level = (this.logLevelOption ?? globals.logLevel ?? 'info') as LogLevel;
    if (!LOG_LEVELS.includes(level)) throw new UsageError(`--log-level must be one of ${LOG_LEVELS.join(', ')} (got '${level}')`);
    return level;
  }

  get color(): boolean {
    return useColor(this.context.stdout);
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

  /** Whether to animate progress: stderr is a terminal with a width (a zero-width pty wraps every char). */
  get progressTty(): boolean {
    return process.stderr.isTTY === true && (process.stderr.columns ?? 0) > 0;
  }

  /** Writes `json` with --output json, else the human `text`. */
  print(json: unknown, text: string): void {
    this.context.stdout.write(this.output === 'json' ? `${JSON.stringify(json)}\n` : `${text}\n`);
  }

  abstract run(): Promise<number>;

  async execute(): Promise<number> {
    try {
      const { outputFormats, pluginFormats } = this.constructor as typeof BaseCommand;
      if (!outputFormats.includes(this.output)) {
        // Formatter plugins may add formats to the commands that render through them: those check the
        // name once the config's plugins are loaded (loadProject, render). The rest know only their own.
        const deferred = pluginFormats && /^[a-z][a-z0-9-]*$/.test(this.output);
        if (!deferred) throw new UsageError(`--output must be one of ${outputFormats.join(', ')}${pluginFormats ? ', or a format a plugin registers' : ''} (got '${this.output}')`);
      }
      return await this.run();
    } catch (error) {
      return this.report(error);
    }
  }

  report(error: unknown): number {
    const { stdout, stderr } = this.context;
    if (isUserError(error)) {
      const e = error as LocalPortError & { problems?: unknown[] };
      if (this.output === 'json') {
        const body = { error: { code: e.code, message: e.message, service: e.service, hint: e.hint, problems: e.problems } };
        stdout.write(`${this.redactor.text(JSON.stringify(body, null, 2))}\n`);
      } else {
        const lines = e.message.split('\n');
        const text = lines.length > 1 ? `error: ${lines.length} problems\n${lines.map((l) => `  ${l}`).join('\n')}` : `error: ${e.message}`;
        // Messages quote what the user or a peer wrote (a YAML key, a tunnel's last line): JSON escapes
        // control characters itself, a terminal would obey them.
        stderr.write(`${printable(this.redactor.text(text))}${e.hint ? `\nhint: ${printable(this.redactor.text(e.hint))}` : ''}\n`);
      }
      return e.exitCode;
    }
    const err = error as Error;
    stderr.write(`${printable(this.redactor.text(err?.stack ?? String(error)))}\n\nThis is a bug in LocalPort. Please report it, with the output above.\n`);
    return 1;
  }
}
