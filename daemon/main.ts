#!/usr/bin/env node
/**
 * The daemon process: `node main.js --config FILE [--auto-start] [--log-level L]`, started detached by
 * `localport start` / `localport daemon start`. Its environment (and so its ${VAR} values) is the one
 * of the command that started it.
 */
import { readFileSync } from 'node:fs';
import { isUserError } from '../core/errors.js';
import type { FileLogger, LogLevel } from '../core/log.js';
import { describeValue, guardProcessExit, originOf } from '../core/config/code.js';
import { loadProject } from '../app/project.js';
import { Daemon } from './Daemon.js';
import { daemonId, daemonPaths, daemonTitle } from '../app/control/sockets.js';

const argv = process.argv.slice(2);
const arg = (name: string) => {
  const i = argv.indexOf(name);
  return i >= 0 ? argv[i + 1] : undefined;
};
const configPath = arg('--config');
if (!configPath) {
  process.stderr.write('usage: main.js --config FILE [--auto-start] [--log-level LEVEL]\n');
  process.exit(2);
}
// The config's id in the title: a client finds this process (and wakes it with SIGUSR2) even when its
// socket file and state dir are gone. The handlers are installed in the same tick, before anyone can
// find the title: the default action of SIGHUP, SIGUSR1 and SIGUSR2 would end the process. Before the
// daemon exists a signal does nothing: there is no config to reload and no service to report on.
process.title = daemonTitle(daemonId(configPath));
let daemon: Daemon | undefined;
for (const sig of ['SIGHUP', 'SIGUSR1', 'SIGUSR2'] as const) process.on(sig, () => daemon?.signal(sig));

// The daemon keeps every tunnel of the config: an exception nothing caught, whether from a config's
// or plugin's timer (named, by its stack) or LocalPort's own bug (with its stack), is logged and the
// daemon carries on. Until the logger exists, stderr is the daemon's stdio file.
let logger: FileLogger | undefined;
const uncaught = (error: unknown) => {
  try {
    const origin = originOf(error);
    const message = origin
      ? `uncaught exception in ${origin}: ${describeValue(error)}; the daemon carries on`
      : `uncaught exception (a bug in LocalPort; please report it): ${describeValue(error)}; the daemon carries on`;
    const stack = origin ? undefined : ((error as Error)?.stack ?? String(error));
    if (logger) logger.error(stack ? { err: stack } : {}, message);
    else process.stderr.write(`${message}${stack ? `\n${stack}` : ''}\n`);
  } catch {
    /* reporting must not throw from here: Node would exit */
  }
};
process.on('uncaughtException', uncaught);
process.on('unhandledRejection', uncaught);
guardProcessExit();
const version = (JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

try {
  const project = await loadProject({ configPath, logLevel: (arg('--log-level') ?? 'info') as LogLevel, logFile: daemonPaths(configPath).log });
  logger = project.logger;
  daemon = new Daemon(project.hub, project.config, project.logger, version);
  daemon.presetFiles = project.presetFiles;
  // A signal or `daemon stop` asks for the shutdown; once it is over, this entry point ends the
  // process: 0, or 1 when a second request had to force it.
  void daemon.stopped.then((outcome) => process.exit(outcome.forced ? 1 : 0));
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void daemon!.shutdown(sig));
  await daemon.start({ autoStart: argv.includes('--auto-start') });
  process.stdout.write(`localport daemon ${process.pid} ready\n`);
} catch (error) {
  process.stderr.write(`${isUserError(error) ? `error: ${(error as Error).message}` : ((error as Error).stack ?? String(error))}\n`);
  process.exit(isUserError(error) ? (error as { exitCode: number }).exitCode : 1);
}
