#!/usr/bin/env node
/**
 * The daemon process: `node main.js --config FILE [--auto-start] [--log-level L]`, started detached by
 * `localport start` / `localport daemon start`. Its environment (and so its ${VAR} values) is the one
 * of the command that started it.
 */
import { readFileSync } from 'node:fs';
import { isUserError } from '../errors.js';
import type { LogLevel } from '../log.js';
import { loadProject } from '../app/project.js';
import { Daemon } from './Daemon.js';
import { daemonId, daemonPaths, daemonTitle } from './paths.js';

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
// socket file and state dir are gone. The handler is installed in the same tick, before anyone can
// find the title: SIGUSR2's default action would end the process.
process.title = daemonTitle(daemonId(configPath));
let daemon: Daemon | undefined;
process.on('SIGUSR2', () => void daemon?.ensureFindable('SIGUSR2'));
const version = (JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string }).version;

try {
  const project = await loadProject({ configPath, logLevel: (arg('--log-level') ?? 'info') as LogLevel, logFile: daemonPaths(configPath).log });
  daemon = new Daemon(project.hub, project.config, project.logger, version);
  daemon.presetFiles = project.presetFiles;
  for (const sig of ['SIGTERM', 'SIGINT'] as const) process.on(sig, () => void daemon!.shutdown(sig));
  process.on('SIGHUP', () => void daemon!.reload('SIGHUP'));
  process.on('uncaughtException', (e) => {
    project.logger.error({ err: e.stack }, `uncaught exception: ${e.message}`);
    void daemon!.shutdown('uncaught exception');
  });
  await daemon.start({ autoStart: argv.includes('--auto-start') });
  process.stdout.write(`localport daemon ${process.pid} ready\n`);
} catch (error) {
  process.stderr.write(`${isUserError(error) ? `error: ${(error as Error).message}` : ((error as Error).stack ?? String(error))}\n`);
  process.exit(isUserError(error) ? (error as { exitCode: number }).exitCode : 1);
}
