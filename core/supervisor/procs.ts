import { readdirSync, readFileSync, statSync } from 'node:fs';

/** What Linux's /proc says about a process; everything here returns undefined once it is gone. */
export interface ProcStat {
  pid: number;
  /** R, S, D, T, Z (zombie: exited, not yet waited for), … */
  state: string;
  ppid: number;
  pgid: number;
  /** Clock ticks since boot: with the pid, tells a process from a later one that got the same pid. */
  startTime: string;
}

export const hasProcfs = process.platform === 'linux';

export function procStat(pid: number): ProcStat | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may hold spaces and parentheses: fields are counted after the last ')'.
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return { pid, state: f[0], ppid: Number(f[1]), pgid: Number(f[2]), startTime: f[19] };
  } catch {
    return undefined;
  }
}

export function procPids(): number[] {
  try {
    return readdirSync('/proc')
      .filter((e) => /^\d+$/.test(e))
      .map(Number);
  } catch {
    return [];
  }
}

export function procUid(pid: number): number | undefined {
  try {
    return statSync(`/proc/${pid}`).uid;
  } catch {
    return undefined;
  }
}

/** The value of `name` in the environment the process was started with (readable for our own processes). */
export function procEnv(pid: number, name: string): string | undefined {
  let env: string;
  try {
    env = readFileSync(`/proc/${pid}/environ`, 'latin1');
  } catch {
    return undefined;
  }
  const prefix = `${name}=`;
  for (const entry of env.split('\0')) if (entry.startsWith(prefix)) return entry.slice(prefix.length);
  return undefined;
}

/** Members of process group `pgid` that have not exited (zombies do not count: they hold no port). */
export function groupMembers(pgid: number): number[] {
  return procPids().filter((pid) => {
    const s = procStat(pid);
    return s !== undefined && s.pgid === pgid && s.state !== 'Z';
  });
}
