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

/** The environment the process was started with (readable for our own processes). */
export function procEnviron(pid: number): NodeJS.ProcessEnv | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/environ`, 'utf8');
  } catch {
    return undefined;
  }
  const env: NodeJS.ProcessEnv = {};
  for (const entry of text.split('\0')) {
    const eq = entry.indexOf('=');
    if (eq > 0) env[entry.slice(0, eq)] = entry.slice(eq + 1);
  }
  return env;
}

/** The value of `name` in the environment the process was started with. */
export const procEnv = (pid: number, name: string): string | undefined => procEnviron(pid)?.[name];

/** The command line, as its arguments. */
export function procArgv(pid: number): string[] | undefined {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0');
  } catch {
    return undefined;
  }
}

/** Members of process group `pgid` that have not exited (zombies do not count: they hold no port). */
export function groupMembers(pgid: number): number[] {
  return procPids().filter((pid) => {
    const s = procStat(pid);
    return s !== undefined && s.pgid === pgid && s.state !== 'Z';
  });
}
