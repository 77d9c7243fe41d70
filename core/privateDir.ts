import { chmodSync, lstatSync, mkdirSync, mkdtempSync, readdirSync, realpathSync, rmSync, statSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parentProblem } from './parentDir.js';
import { stateDir } from './dirs.js';

/**
 * Directories private to this LocalPort process, for what must not be shared with other users: the
 * Unix sockets tunnels listen on behind the fronts, shared connections' control sockets, ssh's config
 * file. Each is made by mkdtemp (0700, a fresh random name nobody can have planted), named
 * `localport-<kind><pid>-XXXXXX` so that one a killed LocalPort left is found and removed by the next,
 * removed when the process exits, and made again if it vanished (a runtime directory removed at logout,
 * a tmp cleaner): a restart days later must still find its place.
 */

const made = new Map<string, string>();
let cleanup = false;

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
};

/** Removes the directories of this kind that LocalPort processes now gone left behind (killed: their exit handler never ran). */
function removeLeftovers(base: string, kind: string): void {
  let entries: string[];
  try {
    entries = readdirSync(base);
  } catch {
    return;
  }
  const ours = new RegExp(`^localport-${kind}(\\d+)-[A-Za-z0-9]{6}$`);
  const uid = process.getuid?.();
  for (const name of entries) {
    const m = ours.exec(name);
    if (!m || Number(m[1]) === process.pid || alive(Number(m[1]))) continue;
    const dir = path.join(base, name);
    try {
      const st = lstatSync(dir);
      // Only a real directory of our own: never follow a link, never touch another user's.
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      rmSync(dir, { recursive: true, force: true });
    } catch {
      /* gone meanwhile, or not ours to remove */
    }
  }
}

/**
 * This process's private directory of `kind` (one letter: `s` sockets, `f` files), in
 * $XDG_RUNTIME_DIR, the temp directory or /tmp, the first where it can be made and `accept`s its path
 * (a socket needs a short one; a path ssh puts into a shell command, a plain one). Undefined if none.
 */
export function privateDirectory(kind: string, accept: (dir: string) => boolean = () => true): string | undefined {
  const known = made.get(kind);
  if (known) {
    try {
      if (statSync(known).isDirectory()) return known;
    } catch {
      /* vanished: made again below */
    }
    made.delete(kind);
  }
  const bases = [process.env.XDG_RUNTIME_DIR, os.tmpdir(), '/tmp'].filter((b): b is string => !!b && path.isAbsolute(b));
  for (const base of bases) {
    // The name mkdtemp will give: "<base>/localport-<kind><pid>-XXXXXX".
    if (!accept(path.join(base, `localport-${kind}${process.pid}-XXXXXX`))) continue;
    try {
      const dir = mkdtempSync(path.join(base, `localport-${kind}${process.pid}-`));
      if (!accept(dir)) {
        rmSync(dir, { recursive: true, force: true });
        continue;
      }
      removeLeftovers(base, kind);
      made.set(kind, dir);
      if (!cleanup) {
        cleanup = true;
        process.once('exit', () => {
          for (const d of made.values()) rmSync(d, { recursive: true, force: true });
        });
      }
      return dir;
    } catch {
      /* not writable: the next base */
    }
  }
  return undefined;
}

/**
 * A directory of this user's that outlives the process, for a cache of code LocalPort will run (a `.ts`
 * config as jiti transpiled it): `cache/<name>` in the state directory, made 0700. It is used only if it
 * is a real directory (not a link) owned by this user that nobody else can write to, under parents
 * nobody else can rename it in: whoever can write there could put code in the cache that the user would
 * then run. Undefined otherwise (then no cache).
 */
export function userCacheDirectory(name: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const uid = process.getuid?.();
  if (uid === undefined) return undefined;
  const dir = path.join(stateDir(env), 'cache', name);
  try {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const st = lstatSync(dir);
    // Writable by others: they may have put code there already. Refused, never repaired.
    if (!st.isDirectory() || st.uid !== uid || (st.mode & 0o022) !== 0 || parentProblem(dir) !== undefined) return undefined;
    // Ours, but readable by others (made by hand, or under another umask): what is cached there is the
    // user's code (a .ts config as transpiled), nobody else's to read.
    if ((st.mode & 0o077) !== 0) chmodSync(dir, 0o700);
    return dir;
  } catch {
    return undefined;
  }
}

export { parentProblem } from './parentDir.js';
