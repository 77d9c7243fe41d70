import { randomBytes } from 'node:crypto';
import { accessSync, constants, existsSync, statSync } from 'node:fs';
import path from 'node:path';
import { groupMembers, hasProcfs, procEnv, procPids, procStat, procUid } from './procs.js';

/**
 * Every tunnel process alive in this LocalPort process. When LocalPort exits for any reason,
 * whatever is still here gets SIGKILL; on Linux the children also carry a parent-death signal, so
 * even a SIGKILLed LocalPort takes them along.
 */
export interface ChildRecord {
  /** The tunnel's pid; it leads its own process group (tunnels are spawned detached). */
  pid: number;
  kill(signal: NodeJS.Signals): void;
}

export const children = new Set<ChildRecord>();
const listeners = new Set<() => void>();

/**
 * Set in every tunnel's environment, so every descendant inherits it, even one that a wrapper forks
 * and that outlives the wrapper. One random value per LocalPort process: a process carrying it can
 * only have been started by this LocalPort, which is what lets the next LocalPort reap it safely.
 */
export const OWNER_ENV = 'LOCALPORT_OWNER';
export const ownerMarker = randomBytes(16).toString('hex');

/** Set in each tunnel's environment too: which one tunnel a process descends from. */
export const TUNNEL_ENV = 'LOCALPORT_TUNNEL';
let tunnels = 0;
export const nextTunnelId = () => `${ownerMarker}.${++tunnels}`;

/**
 * The current user's running processes (not this one, not zombies) whose environment holds `name`
 * set to one of `values`. Linux only (/proc); elsewhere none.
 */
export function processesMarked(name: string, values: string | ReadonlySet<string>): number[] {
  const wanted = typeof values === 'string' ? new Set([values]) : values;
  if (!hasProcfs || wanted.size === 0) return [];
  const uid = process.getuid?.();
  return procPids().filter((pid) => {
    if (pid === process.pid || procUid(pid) !== uid) return false;
    const value = procEnv(pid, name);
    return value !== undefined && wanted.has(value) && procStat(pid)?.state !== 'Z';
  });
}

export function trackChild(child: ChildRecord): void {
  children.add(child);
  listeners.forEach((l) => l());
}

export function untrackChild(child: ChildRecord): void {
  if (children.delete(child)) listeners.forEach((l) => l());
}

/** Called whenever a child is spawned or reaped (its owner persists the list for orphan reaping). */
export function onChildrenChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

const exitHandlers: (() => void)[] = [];
let installed = false;
export function installExitReaper(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const child of children) child.kill('SIGKILL');
    for (const h of exitHandlers) h();
  });
}

/** Runs `handler` at process exit, after every child got its SIGKILL (nothing can be awaited there). */
export function onExit(handler: () => void): void {
  installExitReaper();
  exitHandlers.push(handler);
}

/** Whether any process of the group `pgid` is still there (the leader may be gone and a forked child not). */
export function groupAlive(pgid: number): boolean {
  if (process.platform === 'win32' || pgid <= 0) return false;
  try {
    process.kill(-pgid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A group of zombies still answers kill(); on Linux, look whether a member is really running.
  return hasProcfs ? groupMembers(pgid).length > 0 : true;
}

const SETPRIV = '/usr/bin/setpriv';
let setprivOk: boolean | undefined;

/**
 * Wraps a command so the kernel signals it when LocalPort dies, however it dies (Linux: util-linux
 * `setpriv --pdeathsig`, which sets PR_SET_PDEATHSIG and execs the command, keeping its pid).
 * Tunnels get SIGKILL; the user's command of `run` gets SIGTERM, which a wrapper such as `npm run`
 * passes on to its own children. The signal reaches only this process, not what it forks: the
 * descendants of a tunnel are reaped by the next LocalPort (see reaper.ts).
 * Elsewhere, or with LOCALPORT_NO_PDEATHSIG=1, the command is returned as is.
 */
export function withParentDeathSignal(command: string, args: string[], signal: 'SIGKILL' | 'SIGTERM' = 'SIGKILL'): { command: string; args: string[] } {
  if (process.platform !== 'linux' || process.env.LOCALPORT_NO_PDEATHSIG === '1') return { command, args };
  setprivOk ??= existsSync(SETPRIV);
  return setprivOk ? { command: SETPRIV, args: ['--pdeathsig', signal, '--', command, ...args] } : { command, args };
}

/** Where `command` would be found, as execvp looks for it (a name with a slash is a path). */
export function findExecutable(command: string, env: NodeJS.ProcessEnv = process.env): string | undefined {
  const candidates = command.includes('/') ? [command] : (env.PATH ?? '').split(path.delimiter).map((d) => path.join(d || '.', command));
  for (const file of candidates) {
    try {
      accessSync(file, constants.X_OK);
      if (statSync(file).isFile()) return file;
    } catch {
      /* not here */
    }
  }
  return undefined;
}
