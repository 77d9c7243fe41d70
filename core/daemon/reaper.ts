import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';

/** Enough to recognise a process later: a pid alone may have been reused by something else. */
export interface ProcessIdentity {
  pid: number;
  /** Kernel start time (Linux: clock ticks since boot; elsewhere `ps` lstart). */
  startTime: string;
  cmdline: string;
}

export function identify(pid: number): ProcessIdentity | undefined {
  try {
    if (process.platform === 'linux') {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      const startTime = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
      const cmdline = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      return { pid, startTime, cmdline };
    }
    const out = execFileSync('ps', ['-p', String(pid), '-o', 'lstart=', '-o', 'command='], { encoding: 'utf8' }).trim();
    if (!out) return undefined;
    return { pid, startTime: out.slice(0, 24), cmdline: out.slice(24).trim() };
  } catch {
    return undefined;
  }
}

export const sameProcess = (a: ProcessIdentity, b: ProcessIdentity | undefined) => !!b && a.pid === b.pid && a.startTime === b.startTime && a.cmdline === b.cmdline;

/**
 * Kills the processes a previous daemon recorded — only those that are still the very same processes
 * (same pid, start time and command line). A reused pid belongs to someone else and is left alone.
 */
export async function reapOrphans(records: ProcessIdentity[]): Promise<{ reaped: ProcessIdentity[]; gone: number; foreign: number }> {
  const reaped: ProcessIdentity[] = [];
  let gone = 0;
  let foreign = 0;
  for (const rec of records) {
    const now = identify(rec.pid);
    if (!now) gone += 1;
    else if (!sameProcess(rec, now)) foreign += 1;
    else {
      try {
        // Its own process group (tunnels are spawned detached), then the process itself.
        try {
          process.kill(-rec.pid, 'SIGKILL');
        } catch {
          process.kill(rec.pid, 'SIGKILL');
        }
        reaped.push(rec);
      } catch {
        gone += 1;
      }
    }
  }
  // Wait until the kernel has really taken them (their ports must be free for the new tunnels).
  const deadline = Date.now() + 2000;
  while (reaped.some((r) => sameProcess(r, identify(r.pid))) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  return { reaped, gone, foreign };
}
