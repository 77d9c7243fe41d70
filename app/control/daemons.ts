import { closeSync, fstatSync, mkdirSync, openSync, readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { LocalPortError } from '../../core/errors.js';
import { request } from './client.js';
import { daemonProcesses, probeSockets, socketsOfProcess, type Refusal } from './locate.js';
import { daemonPaths } from './sockets.js';
import { processAlive } from '../../core/state.js';
import type { ServiceStatus } from '../../core/types.js';

const MAIN = fileURLToPath(new URL('../../daemon/main.js', import.meta.url));

export interface DaemonStatus {
  runner: { mode: 'daemon'; pid: number; config: string };
  config: string;
  services: ServiceStatus[];
  reloadError: string | null;
  lastReload: string | null;
  orphansReaped: number;
}

const warned = new Set<string>();

/** A socket that failed the trust checks is named once per command, on stderr (stdout may be JSON). */
function warnRefused({ socket, problem }: Refusal): void {
  if (warned.has(socket)) return;
  warned.add(socket);
  process.stderr.write(`warning: ignoring the control socket ${socket}: ${problem.message}\nhint: ${problem.hint}\n`);
}

/**
 * The daemon for this config, if one answers on a socket that passes the trust checks. If none does
 * but the daemon's process runs, its socket is looked for where that process's own environment puts
 * it (started with another XDG_RUNTIME_DIR or TMPDIR), and if its socket file was deleted (say by a
 * temp cleaner) it is asked to listen again (SIGUSR2) and waited for: a live daemon is never reported
 * as absent.
 */
export async function findDaemon(configFile: string): Promise<{ pid: number; socket: string } | undefined> {
  const paths = daemonPaths(configFile);
  const found = await probeSockets(paths.sockets, warnRefused);
  if (found) return found;
  const procs = daemonProcesses(paths.id).filter((p) => p.pid !== process.pid);
  if (procs.length === 0) return undefined;
  const sockets = [...new Set([...paths.sockets, ...procs.flatMap((p) => socketsOfProcess(p.pid, paths.id))])];
  const elsewhere = await probeSockets(sockets, warnRefused, 500);
  if (elsewhere) return elsewhere;
  for (const p of procs) {
    try {
      process.kill(p.pid, 'SIGUSR2');
    } catch {
      /* exited meanwhile */
    }
  }
  const deadline = Date.now() + 5000;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    const again = await probeSockets(sockets, warnRefused, 500);
    if (again) return again;
    if (!procs.some((p) => processAlive(p.pid))) return undefined;
  }
  const pids = procs.map((p) => p.pid).join(', ');
  throw new LocalPortError('DAEMON_UNREACHABLE', `the daemon for ${configFile} runs (pid ${pids}) but does not answer on its control socket`, {
    // A daemon that does not answer may be stuck in config code that never yields (`while (true) {}`):
    // its SIGTERM handler cannot run then, and its tunnels die with it (parent-death signal).
    hint: `Its log: ${paths.log}. If it stays unreachable, stop it with 'kill ${pids}', or 'kill -9 ${pids}' if that does not end it.`,
  });
}

/** The last `lines` lines of what `file` holds past byte `from` (what this start's daemon wrote). */
function tail(file: string, lines = 5, from = 0): string {
  try {
    return readFileSync(file).subarray(from).toString('utf8').trim().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Starts the daemon for this config unless one already answers. It is detached (its own session),
 * inherits this environment (its ${VAR} values), and is ready when its socket answers.
 */
export async function ensureDaemon(configFile: string, opts: { autoStart?: boolean; logLevel?: string } = {}): Promise<{ pid: number; socket: string; started: boolean }> {
  const found = await findDaemon(configFile);
  if (found) return { ...found, started: false };
  const paths = daemonPaths(configFile);
  mkdirSync(path.dirname(paths.stdio), { recursive: true, mode: 0o700 });
  const fd = openSync(paths.stdio, 'a', 0o600);
  // The file gathers every daemon's output: a failed start quotes only its own (it quoted an earlier one's).
  const from = fstatSync(fd).size;
  // The daemon idles most of its life: V8's default young generation (16 MB semi-spaces) kept ~20 MiB of
  // RSS for nothing (bench/footprint.mjs: 96 → 79 MiB with 50 services), and 4 MB changes nothing
  // measurable for the relay's throughput (bench/relay.mjs, the tcp case: 0.46 → 0.45).
  const args = ['--max-semi-space-size=4', MAIN, '--config', configFile, '--log-level', opts.logLevel ?? 'info', ...(opts.autoStart ? ['--auto-start'] : [])];
  // Imported here: child_process (and dgram, which it loads) cost every `status` ~1 ms on Node 24.
  const { spawn } = await import('node:child_process');
  const child = spawn(process.execPath, args, { detached: true, stdio: ['ignore', fd, fd], cwd: path.dirname(configFile), env: process.env });
  closeSync(fd);
  let exit: number | null | undefined;
  child.once('exit', (code) => (exit = code));
  child.unref();
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    const p = await probeSockets(paths.sockets, warnRefused, 500);
    if (p) return { ...p, started: p.pid === child.pid };
    if (exit !== undefined) {
      // Another `start` for this config may have won the race: its daemon is the one to use.
      const other = await findDaemon(configFile);
      if (other) return { ...other, started: false };
      const why = tail(paths.stdio, 3, from) || `exit code ${exit}`;
      // A daemon that exits 2 found its config invalid: that is the code (and exit code) to pass on.
      throw new LocalPortError(exit === 2 ? 'CONFIG_INVALID' : 'DAEMON_START_FAILED', `the daemon for ${configFile} did not start: ${why.replace(/^error: /gm, '')}`, {
        hint: `Its log: ${paths.log}`,
      });
    }
    await new Promise((r) => setTimeout(r, 30));
  }
  throw new LocalPortError('DAEMON_START_FAILED', `the daemon for ${configFile} did not answer within 15 s`, { hint: `Its log: ${paths.log}` });
}

export function daemonStatus(socket: string, names: string[] = [], timeoutMs?: number): Promise<DaemonStatus> {
  return request<DaemonStatus>(socket, 'status', { names }, timeoutMs);
}

/** Asks the daemon to shut down and waits until its process is gone. Returns the ms it took. */
export async function stopDaemon(configFile: string): Promise<{ pid: number; ms: number } | undefined> {
  const found = await findDaemon(configFile);
  if (!found) return undefined;
  const t0 = Date.now();
  await request(found.socket, 'shutdown');
  const deadline = Date.now() + 10_000;
  while (Date.now() < deadline) {
    if (!processAlive(found.pid)) return { pid: found.pid, ms: Date.now() - t0 };
    await new Promise((r) => setTimeout(r, 5));
  }
  throw new LocalPortError('DAEMON_STOP_FAILED', `the daemon (pid ${found.pid}) did not exit within 10 s`);
}
