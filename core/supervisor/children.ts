import { existsSync } from 'node:fs';

/**
 * Every tunnel process alive in this LocalPort process. When LocalPort exits for any reason,
 * whatever is still here gets SIGKILL; on Linux the children also carry a parent-death signal, so
 * even a SIGKILLed LocalPort takes them along.
 */
export interface ChildRecord {
  pid: number;
  command: string;
  kill(signal: NodeJS.Signals): void;
}

export const children = new Set<ChildRecord>();
const listeners = new Set<() => void>();

export function trackChild(child: ChildRecord): void {
  children.add(child);
  listeners.forEach((l) => l());
}

export function untrackChild(child: ChildRecord): void {
  if (children.delete(child)) listeners.forEach((l) => l());
}

/** Called whenever a child is spawned or reaped (the daemon persists the list for orphan reaping). */
export function onChildrenChange(listener: () => void): () => void {
  listeners.add(listener);
  return () => listeners.delete(listener);
}

let installed = false;
export function installExitReaper(): void {
  if (installed) return;
  installed = true;
  process.on('exit', () => {
    for (const child of children) child.kill('SIGKILL');
  });
}

const SETPRIV = '/usr/bin/setpriv';
let setprivOk: boolean | undefined;

/**
 * Wraps a command so the kernel kills it when LocalPort dies, however it dies (Linux: util-linux
 * `setpriv --pdeathsig`, which sets PR_SET_PDEATHSIG and execs the command, keeping its pid).
 * Elsewhere, or with LOCALPORT_NO_PDEATHSIG=1, the command is returned as is; the daemon's orphan
 * reaper covers that case.
 */
export function withParentDeathSignal(command: string, args: string[]): { command: string; args: string[] } {
  if (process.platform !== 'linux' || process.env.LOCALPORT_NO_PDEATHSIG === '1') return { command, args };
  setprivOk ??= existsSync(SETPRIV);
  return setprivOk ? { command: SETPRIV, args: ['--pdeathsig', 'SIGKILL', '--', command, ...args] } : { command, args };
}
