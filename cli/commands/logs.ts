import { Command, Option } from 'clipanion';
import { MAX_COUNT } from '../../core/config/limits.js';
import { UsageError } from '../../core/errors.js';
import { DEFAULT_OUTPUT } from '../../app/output.js';
import { BaseCommand } from '../BaseCommand.js';

export class LogsCommand extends BaseCommand {
  static override paths = [['logs']];

  static override usage = Command.Usage({
    description: "Show a service's captured tunnel output, or the daemon's own log",
    details: `
      Each service's log holds what its tunnel process printed (and LocalPort's notes on it: spawn, exit,
      state changes), across restarts. Without SERVICE, shows the daemon's log for this config. Logs rotate
      by size (5 MiB, three old files kept); --follow carries on across a rotation. \`--output json\` prints
      NDJSON: one object per entry and line (time, level, message), followed or not.
    `,
    examples: [
      ['The last 50 lines of a service', '$0 logs db'],
      ['Follow it', '$0 logs db -f'],
      ['Only errors', '$0 logs db --grep "error|refused"'],
      ['Where the files are', '$0 logs --list'],
      ["Every config's service logs", '$0 logs --list --all'],
    ],
  });

  service = Option.String({ required: false, name: 'SERVICE' });
  followOption = Option.Boolean('-f,--follow', false, { description: 'Keep printing new lines until Ctrl-C' });
  lines = Option.String('-n,--lines', { description: 'How many lines to show first (default 50)' });
  grep = Option.String('--grep', { description: 'Only lines matching this regular expression' });
  showPath = Option.Boolean('--path', false, { description: 'Print the log file path and exit' });
  list = Option.Boolean('--list', false, { description: "List this config's service log files" });
  all = Option.Boolean('--all', false, { description: "With --list: every config's service logs, named PROJECT/SERVICE" });

  async run(): Promise<number> {
    const n = this.lines === undefined ? 50 : Number(this.lines);
    if (!Number.isInteger(n) || n < 0 || n > MAX_COUNT) throw new UsageError(`--lines must be a whole number from 0 to ${MAX_COUNT} (got '${this.lines}')`);
    let grep: RegExp | undefined;
    try {
      grep = this.grep === undefined ? undefined : new RegExp(this.grep);
    } catch (e) {
      throw new UsageError(`--grep: invalid regular expression: ${(e as Error).message}`);
    }
    const [logs, { daemonPaths }, { selectServices }, { render }] = await Promise.all([
      import('../../app/logs.js'),
      import('../../app/control/sockets.js'),
      import('../../core/supervisor/Supervisor.js'),
      import('../../app/output.js'),
    ]);
    if (this.all && !this.list) throw new UsageError('--all goes with --list', "localport logs --list --all lists every config's service logs.");
    if (this.list && this.all) {
      await this.outputHub();
      await this.show({ kind: 'logFiles', files: logs.listLogs() });
      return 0;
    }
    if (this.list) {
      // The config's path is all it needs: no resolve, no plugins.
      const file = await this.configFile();
      await this.outputHub();
      await this.show({ kind: 'logFiles', files: logs.listLogs(file) });
      return 0;
    }
    const project = await this.loadProject();
    if (this.service) selectServices(project.config, { names: [this.service] });
    const file = this.service ? logs.serviceLogFile(this.service, project.config.file) : daemonPaths(project.config.file!).log;
    if (this.showPath) {
      // The path alone in the default format, for `$(localport logs db --path)`.
      if (this.output === DEFAULT_OUTPUT) this.context.stdout.write(`${file}\n`);
      else await this.show({ kind: 'logFiles', files: logs.fileInfo(this.service ?? 'daemon', file) });
      return 0;
    }
    const service = this.service ?? null;
    const lines = logs.lastLines(file, n, grep);
    if (!this.followOption) {
      await this.show({ kind: 'logs', service, file, entries: lines.map(logs.parseLine) });
      return 0;
    }
    // A stream: each line one view (one JSON object per line with -o json: NDJSON), as it comes.
    const show = (line: string) => this.context.stdout.write(`${render(project.hub, this.output, { kind: 'logs', service, file, entries: [logs.parseLine(line)] }, this.color, { stream: true })}\n`);
    lines.forEach(show);
    const abort = new AbortController();
    for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => abort.abort());
    await logs.follow(file, (line) => (!grep || grep.test(line)) && show(line), abort.signal);
    return 0;
  }
}
