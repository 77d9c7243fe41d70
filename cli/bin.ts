#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { Builtins, Cli } from 'clipanion';
import { useColor } from './BaseCommand.js';
import { ConfigPrintCommand } from './commands/config/print.js';
import { ConfigValidateCommand } from './commands/config/validate.js';
import { RunCommand } from './commands/run.js';
import { StatusCommand } from './commands/status.js';
import { StartCommand } from './commands/start.js';
import { StopCommand } from './commands/stop.js';
import { LogsCommand } from './commands/logs.js';
import { DoctorCommand } from './commands/doctor.js';
import { ConfigExportCommand } from './commands/config/export.js';
import { DaemonReloadCommand } from './commands/daemon/reload.js';
import { DaemonRestartCommand } from './commands/daemon/restart.js';
import { DaemonStartCommand } from './commands/daemon/start.js';
import { DaemonStatusCommand } from './commands/daemon/status.js';
import { DaemonStopCommand } from './commands/daemon/stop.js';
import { extractGlobals, globals, requestedOutput } from './globals.js';
import { DEFAULT_OUTPUT } from '../app/output.js';
import { describeValue, guardProcessExit, originOf } from '../core/config/code.js';

// A config, preset or plugin runs in this process; a timer of theirs that throws must not kill a
// `run` with its tunnels. Traced to one of them, it is one line and LocalPort carries on; anything
// else is LocalPort's own bug: its stack, and exit as Node would.
const uncaught = (error: unknown) => {
  const origin = originOf(error);
  if (origin) {
    process.stderr.write(`error: uncaught exception in ${origin}: ${describeValue(error)} (LocalPort carries on)\n`);
    return;
  }
  process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n\nThis is a bug in LocalPort. Please report it, with the output above.\n`);
  process.exit(1);
};
process.on('uncaughtException', uncaught);
process.on('unhandledRejection', uncaught);
guardProcessExit();
// `localport status | head -1`: the reader has gone, and what is left to print has nowhere to go.
// That is the reader's choice, not a bug: end quietly, as `ls | head` does.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE') throw error;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

const { args, globals: g } = extractGlobals(process.argv.slice(2));
Object.assign(globals, g);

const cli = new Cli({
  binaryLabel: 'LocalPort',
  binaryName: 'localport',
  binaryVersion: pkg.version,
  // clipanion colours piped output unless told; follow the terminal and NO_COLOR.
  enableColors: useColor(process.stdout),
});
cli.register(Builtins.HelpCommand);
cli.register(Builtins.VersionCommand);
cli.register(RunCommand);
cli.register(StatusCommand);
cli.register(StartCommand);
cli.register(StopCommand);
cli.register(LogsCommand);
cli.register(DoctorCommand);
cli.register(ConfigExportCommand);
for (const c of [DaemonStartCommand, DaemonStopCommand, DaemonRestartCommand, DaemonStatusCommand, DaemonReloadCommand]) cli.register(c);
cli.register(ConfigValidateCommand);
cli.register(ConfigPrintCommand);

/** clipanion's parse error as the error View of a usage mistake, in `output` (the default format if no plugin-free hub knows it). */
async function renderUsageError(output: string, error: Error): Promise<string> {
  const [{ builtinHub }, { errorView, render }, { UsageError }] = await Promise.all([import('../app/project.js'), import('../app/output.js'), import('../core/errors.js')]);
  const hub = await builtinHub();
  return render(hub, hub.formatters.has(output) ? output : DEFAULT_OUTPUT, errorView(new UsageError(error.message.split('\n\n')[0].trim(), 'localport --help lists the commands; localport COMMAND --help, its options.')), false);
}

let command;
try {
  command = cli.process(args.length ? args : ['--help']);
} catch (error) {
  // Unknown command or option: a usage error, exit 2. Asked for another format than the default, it is
  // said in that format, on stdout, as every command's errors are (BaseCommand.report).
  const output = g.output ?? requestedOutput(args);
  if (output === undefined || output === DEFAULT_OUTPUT) process.stderr.write(cli.error(error as Error, { colored: useColor(process.stderr) }));
  else process.stdout.write(`${await renderUsageError(output, error as Error)}\n`);
  process.exitCode = 2;
}
if (command) {
  process.exitCode = await cli.run(command, Cli.defaultContext);
}
// The command is done. A config's timer, or code that timed out and still waits, must not keep the
// process alive; only this entry point decides when the process ends, once what was written is out
// (pipes are asynchronous on some platforms).
await Promise.all([process.stdout, process.stderr].map((s) => new Promise((resolve) => s.write('', resolve))));
// One turn of the event loop first: a promise a config rejected and left unhandled is reported (by the
// handler above) only between turns, and a command that ran on microtasks alone has given it none.
await new Promise((resolve) => setImmediate(resolve));
process.exit();
