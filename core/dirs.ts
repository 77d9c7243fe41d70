import os from 'node:os';
import path from 'node:path';
import { sha256 } from './sha256.js';

/**
 * Where LocalPort keeps logs and state: $LOCALPORT_STATE_DIR, else $XDG_STATE_HOME/localport,
 * else the platform's place (~/.local/state, ~/Library/Application Support, %LOCALAPPDATA%).
 */
export function stateDir(env: NodeJS.ProcessEnv = process.env): string {
  if (env.LOCALPORT_STATE_DIR) return path.resolve(env.LOCALPORT_STATE_DIR);
  if (env.XDG_STATE_HOME) return path.join(env.XDG_STATE_HOME, 'localport');
  const home = os.homedir();
  if (process.platform === 'darwin') return path.join(home, 'Library', 'Application Support', 'localport');
  if (process.platform === 'win32') return path.join(env.LOCALAPPDATA ?? path.join(home, 'AppData', 'Local'), 'localport');
  return path.join(home, '.local', 'state', 'localport');
}

export const logDir = (env?: NodeJS.ProcessEnv) => path.join(stateDir(env), 'logs');
export const mainLogFile = (env?: NodeJS.ProcessEnv) => path.join(logDir(env), 'localport.log');
/**
 * A service's log. With the config file it belongs to, the log lives in a folder of that project
 * (`<dir name>-<hash>`), so two projects with a service of the same name never share a log.
 */
export function serviceLogFile(service: string, configFile?: string, env?: NodeJS.ProcessEnv): string {
  if (!configFile) return path.join(logDir(env), 'services', `${service}.log`);
  const abs = path.resolve(configFile);
  const project = `${path.basename(path.dirname(abs)).replace(/[^A-Za-z0-9._-]/g, '_')}-${sha256(abs).slice(0, 8)}`;
  return path.join(logDir(env), 'services', project, `${service}.log`);
}
