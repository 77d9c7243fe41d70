/**
 * The CLI itself: every command, the one place (with daemon/main.ts) that ends the process. bin.ts
 * loads it for everything but the bare command list.
 */
import { readFileSync } from 'node:fs';
import { Builtins, Cli } from 'clipanion';
import { LocalPortCli } from './usage.js';
import { useColor } from './BaseCommand.js';
import { ConfigPrintCommand } from './commands/config/print.js';
import { ConfigValidateCommand } from './commands/config/validate.js';
import { RunCommand } from './commands/run.js';
import { StatusCommand } from './commands/status.js';
import { StartCommand } from './commands/start.js';
import { RestartCommand } from './commands/restart.js';
import { StopCommand } from './commands/stop.js';
import { LogsCommand } from './commands/logs.js';
import { EventsCommand } from './commands/events.js';
import { DoctorCommand } from './commands/doctor.js';
import { groupHelp, HelpCommand } from './commands/help.js';
import { CompleteCommand, CompletionCommand } from './commands/completion.js';
import { ConfigExportCommand } from './commands/config/export.js';
import { DaemonReloadCommand } from './commands/daemon/reload.js';
import { DaemonRestartCommand } from './commands/daemon/restart.js';
import { DaemonStartCommand } from './commands/daemon/start.js';
import { DaemonStatusCommand } from './commands/daemon/status.js';
import { DaemonStopCommand } from './commands/daemon/stop.js';
import { UiCommand } from './commands/ui.js';
import { compiledFor, extractGlobals, globals, requestedOutput } from './globals.js';
import { DEFAULT_OUTPUT } from '../app/output.js';
import { colorArg } from '../app/terminal.js';
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
// That is the reader's choice, not a bug: end quietly, as `ls | head` does. Not `run`: its output is
// news about a command that is still running (`run --events - -- make e2e | grep -m1 ready` reads only
// the first line); the command runs to its end, `run` tears down and exits with the command's code,
// and what it would have printed is dropped. No other command has anything to tear down.
let pipeEndsCommand = true;
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code !== 'EPIPE' && error.code !== 'ERR_STREAM_DESTROYED') throw error;
    if (!pipeEndsCommand) return;
    process.exit(typeof process.exitCode === 'number' ? process.exitCode : 0);
  });
}

const pkg = JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string };

// `__complete` (the shell completion scripts' callback) gets the words being completed as they are:
// its `--` and options belong to the command line under completion, not to this one.
const { args, globals: g } = process.argv[2] === '__complete' ? { args: process.argv.slice(2), globals: { command: [] } } : extractGlobals(process.argv.slice(2));
Object.assign(globals, g);

// Registration order is the order of `localport --help`.
const COMMANDS = [
  Builtins.HelpCommand,
  HelpCommand,
  Builtins.VersionCommand,
  RunCommand,
  StatusCommand,
  StartCommand,
  RestartCommand,
  StopCommand,
  LogsCommand,
  EventsCommand,
  DoctorCommand,
  ConfigExportCommand,
  DaemonStartCommand,
  DaemonStopCommand,
  DaemonRestartCommand,
  DaemonStatusCommand,
  DaemonReloadCommand,
  UiCommand,
  ConfigValidateCommand,
  ConfigPrintCommand,
  CompletionCommand,
  CompleteCommand,
];
// Commands that read the CLI's own list of commands (this.cli.definitions()): they always get all of them.
const READS_DEFINITIONS = new Set(['help', 'completion', '__complete']);

/**
 * The CLI with every command, or with only those whose path starts with `word`. clipanion compiles a
 * parser for each registered command on every run (~25 ms for all of them, most of `status`'s cost
 * after Node itself); a command line can only match commands that start with its first word, so the
 * narrow CLI picks the same command. Whatever it cannot parse is parsed again by the full one, whose
 * errors (unknown command, did you mean, usage lists) are the ones users see.
 */
function makeCli(word?: string): LocalPortCli {
  const cli = new LocalPortCli({
    binaryLabel: 'LocalPort',
    binaryName: 'localport',
    binaryVersion: pkg.version,
    // clipanion colours piped output unless told; follow the terminal and NO_COLOR.
    enableColors: useColor(process.stdout),
  });
  for (const c of COMMANDS) if (word === undefined || c.paths?.some((p) => p[0] === word)) cli.register(c);
  return cli;
}

const first = args[0];
const narrow = first !== undefined && !first.startsWith('-') && !READS_DEFINITIONS.has(first) ? first : undefined;
let cli = makeCli(narrow);

/**
 * The command the user meant to type, when clipanion found none: the words before the first option
 * start no registered command. Then `unknown command 'stauts'; did you mean 'status'?` replaces
 * clipanion's list of every command's usage (which -o json cut to its first line).
 */
async function unknownCommand(error: Error): Promise<string | undefined> {
  if (!error.message.startsWith('Command not found')) return undefined;
  const words: string[] = [];
  for (const a of args) {
    if (a.startsWith('-')) break;
    words.push(a);
  }
  const paths = cli.definitions().map((d) => d.path.split(' ').slice(1)).filter((p) => p.length > 0 && !p[0].startsWith('-'));
  if (words.length === 0 || paths.some((p) => p.every((w, i) => words[i] === w))) return undefined;
  // The longest known prefix (`daemon`) stays; what follows it is the unknown word, compared with
  // what may follow that prefix.
  const depth = Math.max(0, ...paths.map((p) => p.findIndex((w, i) => words[i] !== w)));
  const typed = words.slice(0, depth + 1).join(' ');
  const next = paths.filter((p) => p.length === depth + 1 && p.slice(0, depth).every((w, i) => words[i] === w)).map((p) => p.join(' '));
  if (words.length <= depth) return `'${typed}' needs a subcommand: ${next.join(', ')}`;
  const { didYouMean } = await import('../core/suggest.js');
  return `unknown command '${typed}'${didYouMean(typed, paths.filter((p) => p.length === depth + 1).map((p) => p.join(' ')))}`;
}

/** The registered command the words before the first option name (the longest match), if any. */
function commandOf(words: readonly string[]) {
  const leading: string[] = [];
  for (const a of words) {
    if (a.startsWith('-')) break;
    leading.push(a);
  }
  let best: { definition: ReturnType<LocalPortCli['definitions']>[number]; depth: number } | undefined;
  for (const definition of cli.definitions()) {
    const path = definition.path.split(' ').slice(1);
    if (path.length > 0 && path.every((w, i) => leading[i] === w) && path.length > (best?.depth ?? 0)) best = { definition, depth: path.length };
  }
  return best?.definition;
}

/**
 * An option the command does not have (`status --wach`): one line naming it and the command, with the
 * closest of that command's own options, instead of clipanion's message and every usage line.
 */
async function unknownOption(error: Error): Promise<{ message: string; hint: string } | undefined> {
  const command = commandOf(args);
  // Every `-x` and `--name` of the command; before any command, those of `localport` itself and the
  // ones every command takes (main.ts accepts them there). `--no-color` is the negation of `--color`.
  const namesOf = (d: { options: { definition: string }[] }) => d.options.flatMap((o) => o.definition.split(' ')[0]!.split(','));
  const everywhere = (defs: { options: { definition: string }[] }[]) => namesOf(defs[0]!).filter((n) => defs.every((d) => namesOf(d).includes(n)));
  const names = ['--help', '-h', ...(command ? namesOf(command) : ['--version', '-v', ...everywhere(cli.definitions().filter((d) => d.options.length > 0))])];
  if (names.includes('--color')) names.push('--no-color');
  const nameOf = (arg: string) => (arg.includes('=') ? arg.slice(0, arg.indexOf('=')) : arg);
  // clipanion names the option, or, when an operand came before it (`logs db --folow`), says only
  // "Command not found" (and lists the one command twice): then it is the first option the command lacks.
  const match = /^(?:Unsupported|Invalid) option name \("(.*)"\)/.exec(error.message);
  const typed = match?.[1] ?? (command && error.message.startsWith('Command not found') ? args.find((a) => a.startsWith('-') && !names.includes(nameOf(a))) : undefined);
  if (typed === undefined) return undefined;
  if (colorArg(typed) === 'invalid') return { message: `--color must be always, never or auto (got '${typed.slice('--color='.length)}')`, hint: 'Or --color, --no-color.' };
  const { didYouMean } = await import('../core/suggest.js');
  const name = nameOf(typed);
  const where = command ? ` for '${command.path}'` : '';
  const hint = `${command?.path ?? 'localport'} --help lists its options.`;
  // `--watch=1`: the option exists, but takes no value.
  if (name !== typed && names.includes(name)) return { message: `${name} takes no value (got '${typed}')`, hint };
  // A one-letter option is one edit from every other: no guess is better than a wrong one.
  const guess = name.startsWith('--') ? didYouMean(name, names.filter((n) => n.startsWith('--'))) : '';
  return { message: `unknown option '${typed}'${where}${guess}`, hint };
}

/** clipanion's parse error as the error View of a usage mistake, in `output` (the default format if no plugin-free hub knows it). */
async function renderUsageError(output: string, message: string, hint = 'localport --help lists the commands; localport COMMAND --help, its options.'): Promise<string> {
  const [{ builtinHub }, { errorView, render }, { UsageError }] = await Promise.all([import('../app/project.js'), import('../app/output.js'), import('../core/errors.js')]);
  const hub = await builtinHub();
  return render(hub, hub.formatters.has(output) ? output : DEFAULT_OUTPUT, errorView(new UsageError(message, hint)), useColor(output === DEFAULT_OUTPUT ? process.stderr : process.stdout));
}

/**
 * Parses the command line, runs the command, and ends the process. A function, not top-level code:
 * the bundle (scripts/bundle.mjs) is a CommonJS script, which may hold no top-level await.
 */
async function main(): Promise<void> {
  let command;
  try {
    try {
      command = cli.process(args.length ? args : ['--help']);
    } catch (error) {
      if (narrow === undefined) throw error;
      cli = makeCli();
      command = cli.process(args);
    }
  } catch (error) {
    // `localport daemon --help`: the commands of that group, as `localport help daemon` lists them.
    const group = args.some((a) => a === '--help' || a === '-h') ? groupHelp(cli.definitions(), args.filter((a) => !a.startsWith('-'))) : undefined;
    if (group !== undefined) {
      process.stdout.write(group);
      return finish();
    }
    // Unknown command or option: a usage error, exit 2. Asked for another format than the default, it is
    // said in that format, on stdout, as every command's errors are (BaseCommand.report).
    const output = g.output ?? requestedOutput(args) ?? DEFAULT_OUTPUT;
    const option = await unknownOption(error as Error);
    const unknown = option?.message ?? (await unknownCommand(error as Error));
    if (unknown !== undefined && output === DEFAULT_OUTPUT) process.stderr.write(`${await renderUsageError(output, unknown, option?.hint)}\n`);
    else if (output === DEFAULT_OUTPUT) process.stderr.write(cli.error(error as Error, { colored: useColor(process.stderr) }));
    else process.stdout.write(`${await renderUsageError(output, unknown ?? (error as Error).message.split('\n\n')[0].trim(), option?.hint)}\n`);
    process.exitCode = 2;
  }
  if (command) {
    pipeEndsCommand = !(command instanceof RunCommand);
    compiledFor(command.path.join(' '));
    process.exitCode = await cli.run(command, Cli.defaultContext);
  }
  await finish();
}

async function finish(): Promise<void> {
  // The command is done. A config's timer, or code that timed out and still waits, must not keep the
  // process alive; only this entry point decides when the process ends, once what was written is out
  // (pipes are asynchronous on some platforms).
  await Promise.all([process.stdout, process.stderr].map((s) => new Promise((resolve) => s.write('', resolve))));
  // One turn of the event loop first: a promise a config rejected and left unhandled is reported (by the
  // handler above) only between turns, and a command that ran on microtasks alone has given it none.
  await new Promise((resolve) => setImmediate(resolve));
  process.exit();
}

main().catch((error: unknown) => {
  process.stderr.write(`${(error as Error)?.stack ?? String(error)}\n\nThis is a bug in LocalPort. Please report it, with the output above.\n`);
  process.exit(1);
});
