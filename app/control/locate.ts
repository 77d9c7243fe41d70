import { hasProcfs, procArgv, procEnviron, procPids, procStat, procUid } from '../../core/supervisor/procs.js';
import net from 'node:net';
import path from 'node:path';
import { ping } from './client.js';
import { daemonTitle, socketCandidates } from './sockets.js';
import { ABSENT, prepareSocketDir, socketProblem, UnsafeSocketError, type SocketProblem } from './socketdir.js';

/**
 * Finding the daemon for a config without any file of the state dir: its socket is at one of a few
 * paths that follow from the user and the config path (sockets.ts), and on Linux the daemon process
 * itself carries the config's id in its title, so it can be found and woken up even if its socket
 * file was deleted.
 */

export interface Refusal {
  socket: string;
  problem: SocketProblem;
}

/** Asks each candidate socket that passes the trust checks; the first daemon that answers wins. */
export async function probeSockets(sockets: string[], onRefused?: (r: Refusal) => void, timeoutMs = 2000): Promise<{ pid: number; socket: string } | undefined> {
  for (const socket of sockets) {
    const problem = socketProblem(socket);
    if (problem === ABSENT) continue;
    if (problem) {
      onRefused?.({ socket, problem });
      continue;
    }
    const p = await ping(socket, timeoutMs);
    if (p) return { pid: p.pid, socket };
  }
  return undefined;
}

export interface DaemonProcess {
  pid: number;
  /** Kernel start time in clock ticks since boot: orders two daemons started for the same config. */
  startTime: number;
}

/** Live processes of the current user titled as the daemon for this id (Linux; elsewhere none are found). */
export function daemonProcesses(id: string): DaemonProcess[] {
  if (!hasProcfs) return [];
  const uid = process.getuid?.();
  const title = daemonTitle(id);
  const out: DaemonProcess[] = [];
  for (const pid of procPids()) {
    // Another user's process never counts, whatever its title.
    if (procUid(pid) !== uid || procArgv(pid)?.[0] !== title) continue;
    const stat = procStat(pid);
    if (stat && stat.state !== 'Z') out.push({ pid, startTime: Number(stat.startTime) });
  }
  return out;
}

/**
 * The candidate sockets as the daemon process itself computed them, from the environment it was
 * started with (Linux: /proc/<pid>/environ, readable for one's own processes). A daemon started where
 * XDG_RUNTIME_DIR or TMPDIR differed from this shell's is found too; its socket still has to pass the
 * trust checks.
 */
export function socketsOfProcess(pid: number, id: string): string[] {
  const env = procEnviron(pid);
  return env ? socketCandidates(id, env) : [];
}

/**
 * The daemon picks the first candidate directory that it can create or that passes the checks;
 * each one refused is reported. Throws if none is usable.
 */
export function chooseSocket(sockets: string[], onRefused: (r: Refusal) => void): string {
  if (process.platform === 'win32') return sockets[0];
  const refused: Refusal[] = [];
  for (const socket of sockets) {
    const problem = prepareSocketDir(path.dirname(socket));
    if (!problem) return socket;
    refused.push({ socket, problem });
    onRefused({ socket, problem });
  }
  throw new UnsafeSocketError(
    `no safe directory for the control socket: ${refused.map((r) => r.problem.message).join('; ')}`,
    refused[0]?.problem.hint ?? 'Set XDG_RUNTIME_DIR to a directory only you can access.',
  );
}

/**
 * Linux: one daemon per config and user, enforced by the kernel. The daemon binds an abstract-namespace
 * socket named after the user and the config's id and keeps it for its life; a second binder gets
 * EADDRINUSE, and the name is freed the moment the holder dies (SIGKILL included), with no file to
 * go stale or be deleted. The socket is close-on-exec, so tunnels never inherit it. Returns the
 * held server, 'held' if another process holds the name, or undefined where there is no such lock.
 */
export async function takeDaemonLock(id: string): Promise<net.Server | 'held' | undefined> {
  if (process.platform !== 'linux') return undefined;
  const server = net.createServer((c) => c.destroy());
  return new Promise((resolve, reject) => {
    server.once('error', (e: NodeJS.ErrnoException) => (e.code === 'EADDRINUSE' ? resolve('held') : reject(e)));
    server.listen(`\0localport/${process.getuid?.()}/${id}.lock`, () => {
      server.unref();
      resolve(server);
    });
  });
}
