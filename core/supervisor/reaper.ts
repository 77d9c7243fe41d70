import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { stateDir } from '../dirs.js';
import { children, onChildrenChange, onExit, OWNER_ENV, ownerMarker, processesMarked } from './children.js';
import { hasProcfs, procStat } from './procs.js';
import { configId, writeJsonAtomic } from '../state.js';

/** Enough to recognise a process later: a pid alone may have been reused by something else. */
export interface ProcessIdentity {
  pid: number;
  /** Kernel start time (Linux: clock ticks since boot; elsewhere `ps` lstart). */
  startTime: string;
}

export function identify(pid: number): ProcessIdentity | undefined {
  if (hasProcfs) {
    const s = procStat(pid);
    return s && s.state !== 'Z' ? { pid, startTime: s.startTime } : undefined;
  }
  try {
    const out = execFileSync('ps', ['-p', String(pid), '-o', 'lstart='], { encoding: 'utf8' }).trim();
    return out ? { pid, startTime: out } : undefined;
  } catch {
    return undefined;
  }
}

export const sameProcess = (a: ProcessIdentity, b: ProcessIdentity | undefined) => !!b && a.pid === b.pid && a.startTime === b.startTime;

/**
 * What one LocalPort process (`run` or the daemon) records about its tunnels, for the next one to reap
 * if it is killed: identities only. Never a command line, which may hold secrets (`-o SetEnv=TOKEN=…`).
 */
interface ChildrenRecord {
  owner: ProcessIdentity;
  /** The LOCALPORT_OWNER value every tunnel and every descendant of a tunnel carries in its environment. */
  marker: string;
  /** One process group per tunnel; its leader is the tunnel process (pid = pgid). */
  groups: ProcessIdentity[];
}

/** Before this format the file held the tunnels' command lines, one file per daemon. */
interface LegacyRecord {
  pid: number;
  startTime: string;
  cmdline: string;
}

const recordsDir = (env?: NodeJS.ProcessEnv) => path.join(stateDir(env), 'run');
/** One file per LocalPort process and config: two `run`s of one config may be alive at once. */
export const childrenFile = (configFile: string, pid = process.pid, env?: NodeJS.ProcessEnv) => path.join(recordsDir(env), `${configId(configFile)}.children.${pid}.json`);


export interface ChildrenRecorder {
  /** Writes the file again if it vanished (a deleted state dir): a cheap existence check otherwise. */
  ensure(): void;
  /** The orderly end: kills any descendant of a tunnel that left its process group, removes the file. */
  stop(): void;
}

/**
 * Keeps this process's children file up to date for `configFile` until `stop()` at an orderly end.
 * If the process dies instead, the file stays for the next LocalPort to reap.
 */
export function recordChildren(configFile: string, onError: (error: Error) => void): ChildrenRecorder {
  const file = childrenFile(configFile);
  const owner = identify(process.pid);
  let done = false;
  let spawned = false;
  const write = () => {
    if (done || !owner) return;
    spawned ||= children.size > 0;
    const groups = [...children].map((c) => identify(c.pid)).filter((x): x is ProcessIdentity => !!x);
    try {
      writeJsonAtomic(file, { owner, marker: ownerMarker, groups } satisfies ChildrenRecord);
    } catch (error) {
      onError(error as Error);
    }
  };
  const unsubscribe = onChildrenChange(write);
  write();
  onExit(() => {
    // Killed on purpose or crashed: whatever was spawned got SIGKILL, but a wrapper's children may remain.
    if (!done && children.size === 0 && marked(new Set([ownerMarker])).length === 0) rmSync(file, { force: true });
  });
  return {
    ensure: () => {
      if (!existsSync(file)) write();
    },
    stop: () => {
      if (done) return;
      done = true;
      unsubscribe();
      if (spawned) for (const pid of marked(new Set([ownerMarker]))) kill(pid, 'SIGKILL');
      rmSync(file, { force: true });
    },
  };
}

function kill(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(pid, signal);
    return true;
  } catch {
    return false;
  }
}

/** Running processes of the current user whose environment carries one of these owner markers. */
const marked = (markers: Set<string>): number[] => processesMarked(OWNER_ENV, markers);

export interface ReapResult {
  /** Pids killed. */
  reaped: number[];
  /** Dead LocalPort processes whose leftovers were looked for. */
  owners: number;
}

/**
 * Reaps what earlier LocalPort processes for this config (a SIGKILLed `run` or daemon) left behind,
 * and only what is provably theirs. On Linux that is every process of the current user whose
 * environment carries the dead owner's random marker: the tunnels and whatever they forked, even a
 * forwarder a wrapper started that now has ppid 1. Elsewhere, a recorded process group whose leader
 * is still the very same process (pid and start time). A live owner's records are left alone.
 */
export async function reapLeftovers(configFile: string, env?: NodeJS.ProcessEnv): Promise<ReapResult> {
  const prefix = `${configId(configFile)}.children.`;
  let names: string[];
  try {
    names = readdirSync(recordsDir(env)).filter((n) => n.startsWith(prefix) && n.endsWith('.json'));
  } catch {
    return { reaped: [], owners: 0 };
  }
  const markers = new Set<string>();
  const groups: ProcessIdentity[] = [];
  const reaped = new Set<number>();
  let owners = 0;
  for (const name of names) {
    const file = path.join(recordsDir(env), name);
    let data: ChildrenRecord | LegacyRecord[];
    try {
      data = JSON.parse(readFileSync(file, 'utf8')) as ChildrenRecord | LegacyRecord[];
    } catch {
      continue; // being written by its owner right now, or not ours to understand
    }
    if (Array.isArray(data)) {
      for (const rec of data) if (legacySame(rec) && kill(-rec.pid, 'SIGKILL')) reaped.add(rec.pid);
    } else {
      if (!data?.owner || sameProcess(data.owner, identify(data.owner.pid))) continue;
      owners += 1;
      if (typeof data.marker === 'string' && data.marker) markers.add(data.marker);
      if (!hasProcfs) groups.push(...(data.groups ?? []));
    }
    rmSync(file, { force: true });
  }
  for (const g of groups) if (sameProcess(g, identify(g.pid)) && kill(-g.pid, 'SIGKILL')) reaped.add(g.pid);
  // Kill until none is left (a dying forwarder may fork once more), then the ports are free.
  const deadline = Date.now() + 2000;
  for (;;) {
    const left = marked(markers);
    if (left.length === 0 || Date.now() > deadline) break;
    for (const pid of left) if (kill(pid, 'SIGKILL')) reaped.add(pid);
    await new Promise((r) => setTimeout(r, 10));
  }
  while (groups.some((g) => sameProcess(g, identify(g.pid))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return { reaped: [...reaped], owners };
}

/** The old file's identity: pid, start time and the command line it recorded. */
function legacySame(rec: LegacyRecord): boolean {
  const now = identify(rec.pid);
  if (!now || now.startTime !== rec.startTime) return false;
  try {
    return readFileSync(`/proc/${rec.pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ') === rec.cmdline;
  } catch {
    return false;
  }
}
