import { createHash } from 'node:crypto';
import path from 'node:path';
import { stateDir } from '../paths.js';

/** One daemon per config file; its files are named by a hash of the config's absolute path. */
export function daemonId(configFile: string): string {
  return createHash('sha256').update(path.resolve(configFile)).digest('hex').slice(0, 16);
}

/** Runtime files (socket) live in $XDG_RUNTIME_DIR/localport when there is one, else in the state dir. */
export function runtimeDir(env: NodeJS.ProcessEnv = process.env): string {
  return env.XDG_RUNTIME_DIR && !env.LOCALPORT_STATE_DIR ? path.join(env.XDG_RUNTIME_DIR, 'localport') : path.join(stateDir(env), 'run');
}

export function daemonPaths(configFile: string, env: NodeJS.ProcessEnv = process.env) {
  const id = daemonId(configFile);
  const run = path.join(stateDir(env), 'run');
  return {
    id,
    socket: process.platform === 'win32' ? `\\\\.\\pipe\\localport-${id}` : path.join(runtimeDir(env), `${id}.sock`),
    /** pid, socket, config, start time: written atomically when the daemon is up. */
    info: path.join(run, `${id}.daemon.json`),
    log: path.join(stateDir(env), 'logs', `daemon-${id}.log`),
    stdio: path.join(stateDir(env), 'logs', `daemon-${id}.stdio.log`),
  };
}
