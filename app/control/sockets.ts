import { configId } from '../../core/state.js';
import path from 'node:path';
import { stateDir } from '../../core/dirs.js';

/** One daemon per config file; its files are named by a hash of the config's absolute path. */
export const daemonId = configId;

/**
 * A Unix socket path must fit in sun_path: 104 bytes on macOS and the BSDs, 108 on Linux, with its NUL.
 * The smaller limit keeps one rule everywhere.
 */
export const SOCKET_PATH_MAX = 103;

/** The process title of the daemon for this config: how it is found when its socket is gone. */
export const daemonTitle = (id: string) => `localport-daemon ${id}`;

const currentUid = () => process.getuid?.() ?? 0;

/** Node's os.tmpdir(), for an arbitrary environment. */
function tmpBase(env: NodeJS.ProcessEnv): string {
  const t = env.TMPDIR || env.TMP || env.TEMP || '/tmp';
  return t.length > 1 && t.endsWith('/') ? t.slice(0, -1) : t;
}

/**
 * The directories that may hold the control socket, best first. The daemon listens in the first one
 * that is safe (see socketdir.ts); a client looks in each. None of them is inside the state dir except
 * the last resort, so deleting the state dir never loses the daemon: the path follows from the user,
 * the config path and the runtime/temp dir alone.
 * 1. $XDG_RUNTIME_DIR/localport (per user, 0700, cleaned at logout);
 * 2. $TMPDIR/localport-<uid>, then /tmp/localport-<uid> (as tmux does) — verified to be ours and 0700;
 * 3. <state dir>/run, when an unsafe or too long path rules out the others.
 */
export function socketDirs(env: NodeJS.ProcessEnv = process.env): string[] {
  const dirs: string[] = [];
  if (env.XDG_RUNTIME_DIR && path.isAbsolute(env.XDG_RUNTIME_DIR)) dirs.push(path.join(env.XDG_RUNTIME_DIR, 'localport'));
  dirs.push(path.join(tmpBase(env), `localport-${currentUid()}`));
  dirs.push(`/tmp/localport-${currentUid()}`);
  dirs.push(path.join(stateDir(env), 'run'));
  return [...new Set(dirs.map((d) => path.resolve(d)))];
}

/** The candidate socket paths for a daemon id: those that fit in sun_path. */
export function socketCandidates(id: string, env: NodeJS.ProcessEnv = process.env): string[] {
  if (process.platform === 'win32') return [`\\\\.\\pipe\\localport-${id}`];
  return socketDirs(env)
    .map((d) => path.join(d, `${id}.sock`))
    .filter((s) => Buffer.byteLength(s) <= SOCKET_PATH_MAX);
}

export function daemonPaths(configFile: string, env: NodeJS.ProcessEnv = process.env) {
  const id = daemonId(configFile);
  const run = path.join(stateDir(env), 'run');
  const sockets = socketCandidates(id, env);
  return {
    id,
    /** Where the control socket may be, best first (the daemon records the one it chose in `info`). */
    sockets,
    /** The preferred socket path. */
    socket: sockets[0] ?? path.join(run, `${id}.sock`),
    /** pid, socket, config, start time: written atomically when the daemon is up. */
    info: path.join(run, `${id}.daemon.json`),
    /**
     * The token of the daemon's HTTP server (`/metrics`, the dashboard), alone on a line, 0600: what a
     * Prometheus `authorization.credentials_file` points at. Written while the server runs.
     */
    uiToken: path.join(run, `${id}.ui-token`),
    log: path.join(stateDir(env), 'logs', `daemon-${id}.log`),
    stdio: path.join(stateDir(env), 'logs', `daemon-${id}.stdio.log`),
  };
}
