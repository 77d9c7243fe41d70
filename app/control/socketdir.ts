import { lstatSync, mkdirSync, readlinkSync, type Stats } from 'node:fs';
import path from 'node:path';
import { LocalPortError } from '../../core/errors.js';
import { parentProblem } from '../../core/privateDir.js';

/**
 * Trust checks for the control socket. Whoever controls the socket's directory controls what
 * `status` shows and what `stop` talks to, so a directory is used only if it is a real directory
 * (not a symlink) owned by the current user with no access for group or others, under parents that
 * nobody else can rename it in. Checks use lstat and never follow a link. Nothing here changes an
 * existing directory: a directory that fails is reported, not repaired, because it may be someone
 * else's trap.
 */

const me = () => process.getuid?.() ?? 0;
const octal = (mode: number) => `0${(mode & 0o7777).toString(8)}`;

/** The socket (or its directory) is not there: no daemon, and nothing wrong either. */
export const ABSENT = Symbol('absent');

function lstat(p: string): Stats | undefined {
  try {
    return lstatSync(p);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT' || (e as NodeJS.ErrnoException).code === 'ENOTDIR') return undefined;
    throw e;
  }
}

/** A reason not to trust a socket or its directory, and what the user can do about it. */
export interface SocketProblem {
  message: string;
  hint: string;
}

const planted = (p: string): string =>
  `Another local user may have planted it to intercept LocalPort: remove ${p} (as root if needed) and find out who made it.`;

/** Why `dir` cannot be trusted to hold the control socket; ABSENT if it does not exist; undefined if it is fine. */
export function socketDirProblem(dir: string): SocketProblem | typeof ABSENT | undefined {
  const st = lstat(dir);
  if (!st) return ABSENT;
  if (st.isSymbolicLink()) {
    let target = '?';
    try {
      target = readlinkSync(dir);
    } catch {
      /* gone meanwhile */
    }
    return { message: `${dir} is a symbolic link (to ${target}), not a directory of yours`, hint: planted(dir) };
  }
  if (!st.isDirectory()) return { message: `${dir} is not a directory`, hint: planted(dir) };
  if (st.uid !== me()) return { message: `${dir} is owned by uid ${st.uid}, not by you (uid ${me()})`, hint: planted(dir) };
  if (st.mode & 0o077) {
    return {
      message: `${dir} is accessible by group or others (mode ${octal(st.mode)}); it must be 0700`,
      hint: `If you made ${dir} yourself and nobody else could have used it, run 'chmod 700 ${dir}'; otherwise remove it.`,
    };
  }
  const parent = parentProblem(dir);
  return parent ? { message: `${dir}: ${parent}`, hint: 'Point XDG_RUNTIME_DIR (or TMPDIR) at a directory that only you (or root) can write to.' } : undefined;
}

/** Why the socket at this path cannot be trusted; ABSENT if there is none; undefined if it is ours. */
export function socketProblem(socketPath: string): SocketProblem | typeof ABSENT | undefined {
  if (process.platform === 'win32') return undefined;
  const dir = socketDirProblem(path.dirname(socketPath));
  if (dir) return dir;
  const st = lstat(socketPath);
  if (!st) return ABSENT;
  if (!st.isSocket()) return { message: `${socketPath} is not a socket`, hint: planted(socketPath) };
  if (st.uid !== me()) return { message: `${socketPath} is owned by uid ${st.uid}, not by you (uid ${me()})`, hint: planted(socketPath) };
  return undefined;
}

export class UnsafeSocketError extends LocalPortError {
  constructor(message: string, hint: string) {
    super('DAEMON_SOCKET_UNSAFE', message, { hint });
  }
}

/**
 * Creates the socket directory if it is missing (mode 0700, a plain mkdir: an existing one is never
 * trusted because of the call) and checks it. Returns the problem, if any.
 */
export function prepareSocketDir(dir: string): SocketProblem | undefined {
  if (process.platform === 'win32') return undefined;
  // The parent chain up to the runtime/temp dir; a state dir may not exist yet.
  try {
    mkdirSync(path.dirname(dir), { recursive: true, mode: 0o700 });
    mkdirSync(dir, { mode: 0o700 });
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EEXIST') {
      return { message: `${dir} cannot be created: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}`, hint: 'Check the permissions of its parent.' };
    }
  }
  const problem = socketDirProblem(dir);
  return problem === ABSENT ? { message: `${dir} vanished while it was being created`, hint: 'Try again.' } : problem;
}
