import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { stateDir } from './paths.js';
import type { ServiceStatus } from './types.js';

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
  const id = createHash('sha256').update(path.resolve(configFile)).digest('hex').slice(0, 16);
  return path.join(stateDir(env), 'run', `${id}.json`);
}

/** Written atomically (temp file + rename): a reader never sees half a file. Services must be redacted already. */
export function writeRunState(file: string, state: RunState): void {
  mkdirSync(path.dirname(file), { recursive: true, mode: 0o700 });
  const tmp = `${file}.${process.pid}.tmp`;
  writeFileSync(tmp, JSON.stringify(state), { mode: 0o600 });
  renameSync(tmp, file);
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** The state published for this config, if the process that wrote it is still alive. */
export function readRunState(file: string): RunState | undefined {
  let state: RunState;
  try {
    state = JSON.parse(readFileSync(file, 'utf8')) as RunState;
  } catch {
    return undefined;
  }
  return alive(state.pid) ? state : undefined;
}

export function removeRunState(file: string): void {
  rmSync(file, { force: true });
}
