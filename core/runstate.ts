import { rmSync } from 'node:fs';
import path from 'node:path';
import { stateDir } from './dirs.js';
import { configId, processAlive, readJson, writeJsonAtomic } from './state.js';
import type { ServiceStatus } from './types.js';
import type { Redactor } from './redact.js';

/** What a running LocalPort (foreground `run`, or the daemon) publishes for `localport status`. */
export interface RunState {
  mode: 'run' | 'daemon';
  pid: number;
  config: string;
  startedAt: string;
  updatedAt: string;
  services: ServiceStatus[];
}

/** One file per config file: two projects each have their own. */
export function runStateFile(configFile: string, env?: NodeJS.ProcessEnv): string {
  return path.join(stateDir(env), 'run', `${configId(configFile)}.json`);
}

/**
 * Written atomically (temp file + rename): a reader never sees half a file. Redacted here, as it
 * reaches the disk: a file at rest is a boundary of its own, like rendered output and the log.
 */
export function writeRunState(file: string, state: RunState, redactor: Redactor): void {
  writeJsonAtomic(file, redactor.data(state));
}

/** The state published for this config, if the process that wrote it is still alive. */
export function readRunState(file: string): RunState | undefined {
  const state = readJson<RunState>(file);
  return state && typeof state.pid === 'number' && processAlive(state.pid) ? state : undefined;
}

export function removeRunState(file: string): void {
  rmSync(file, { force: true });
}
