import { readdirSync, readFileSync } from 'node:fs';

export interface Proc {
  pid: number;
  ppid: number;
  cmd: string;
}

/** Every process on the machine, from /proc. */
export function processes(): Proc[] {
  const out: Proc[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
      const cmd = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
      out.push({ pid: Number(entry), ppid, cmd });
    } catch {
      /* exited meanwhile */
    }
  }
  return out;
}

/** A process's environment (empty when it cannot be read: gone, or another user's). */
export function environOf(pid: number): Record<string, string> {
  try {
    return Object.fromEntries(
      readFileSync(`/proc/${pid}/environ`, 'utf8')
        .split('\0')
        .filter(Boolean)
        .map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)]),
    );
  } catch {
    return {};
  }
}

/**
 * The tunnel processes serving local port `port`: LocalPort sets LOCALPORT_SERVICE_PORT in every
 * tunnel's environment (behind its front, the tunnel itself listens on an internal endpoint).
 * `command`: only those whose command line starts with it (`ssh`, `kubectl`, …).
 */
export const tunnelsServing = (port: number, command = '') => processes().filter((p) => p.cmd.startsWith(command) && environOf(p.pid).LOCALPORT_SERVICE_PORT === String(port));

/**
 * The ssh processes a service's tunnel runs on: its own ssh (see tunnelsServing), or the shared master
 * (ControlMaster) to the sshd on `sshdPort` that carries its forward. Each test's sshd has a port of its
 * own, so another test's masters are never counted.
 */
export const sshTunnels = (local: number, sshdPort: number) => {
  const own = tunnelsServing(local, 'ssh');
  const masters = processes().filter((p) => p.cmd.startsWith('ssh ') && p.cmd.includes('ControlMaster=yes') && p.cmd.includes(` -p ${sshdPort} `));
  return [...own, ...masters.filter((m) => !own.some((o) => o.pid === m.pid))];
};

/** Processes whose command line contains `needle` (e.g. a port forward spec unique to one test). */
export const processesMatching = (needle: string) => processes().filter((p) => p.cmd.includes(needle));

export function descendants(pid: number): number[] {
  const all = processes();
  const out: number[] = [];
  const visit = (p: number) =>
    all.filter((c) => c.ppid === p).forEach((c) => {
      out.push(c.pid);
      visit(c.pid);
    });
  visit(pid);
  return out;
}

/** Running, and not a zombie: an exited process whose parent has not reaped it yet has stopped too. */
export function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
  } catch {
    return false;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat[stat.lastIndexOf(')') + 2] !== 'Z';
  } catch {
    return false;
  }
}

export async function waitUntil(cond: () => boolean | Promise<boolean>, withinMs: number, what: string): Promise<void> {
  const t0 = Date.now();
  while (Date.now() - t0 < withinMs) {
    if (await cond()) return;
    await new Promise((r) => setTimeout(r, 20));
  }
  throw new Error(`timed out after ${withinMs} ms waiting for ${what}`);
}
