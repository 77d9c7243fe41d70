import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import net from 'node:net';
import { ServiceError } from '../errors.js';
import type { Endpoint } from '../types.js';
import { connectTo } from './endpoints.js';

/** Why `host:port` cannot be bound right now (EADDRINUSE, EADDRNOTAVAIL, ENOTFOUND, EACCES, …), or undefined if it can. */
export function bindError(port: number, host: string): Promise<NodeJS.ErrnoException | undefined> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (error: NodeJS.ErrnoException) => resolve(error));
    server.listen({ port, host, exclusive: true }, () => server.close(() => resolve(undefined)));
  });
}

/**
 * Why service `name` cannot listen on `address:port` right now, as the error to report; undefined if
 * it can. Only a port that is taken is "in use": an address that is not this machine's, or a name that
 * does not resolve, is named as such (validation catches both; an interface can vanish since).
 */
export async function bindProblem(name: string, port: number, address: string): Promise<ServiceError | undefined> {
  const bind = await bindError(port, address);
  return bind ? bindFailure(name, port, address, bind) : undefined;
}

/** The error to report when service `name` could not listen on `address:port` (`bind` is why). */
export function bindFailure(name: string, port: number, address: string, bind: NodeJS.ErrnoException): ServiceError {
  const where = net.isIPv6(address) ? `[${address}]` : address;
  if (bind.code !== 'EADDRINUSE') {
    const why =
      bind.code === 'EADDRNOTAVAIL' ? `${address} is not an address of this machine` : bind.code === 'ENOTFOUND' || bind.code === 'EAI_AGAIN' ? `bind address '${address}' does not resolve (${bind.code})` : bind.code === 'EACCES' ? `port ${port} needs privileges on ${address} (EACCES)` : `${bind.code ?? bind.message}`;
    const hint = bind.code === 'EACCES' ? 'Use a local port above 1023.' : 'Use 127.0.0.1, or an address of this machine, as the bind address.';
    return new ServiceError('BIND_FAILED', name, `service ${name}: cannot listen on ${where}:${port}: ${why}`, hint);
  }
  const holder = portHolder(port);
  return new ServiceError(
    'PORT_IN_USE',
    name,
    `service ${name}: local port ${port} on ${address} is already in use${holder ? ` by ${holder}` : ''}`,
    'Stop the process holding the port, or give the service another local_port.',
  );
}

/** Whether `host:port` can be bound right now. */
export async function isPortFree(port: number, host: string): Promise<boolean> {
  return (await bindError(port, host)) === undefined;
}

/** One connect to `endpoint`, resolved true if it is accepted within `timeoutMs`. */
export async function canConnect(endpoint: Endpoint, timeoutMs = 1000): Promise<boolean> {
  try {
    (await connectTo(endpoint, undefined, timeoutMs)).destroy();
    return true;
  } catch {
    return false;
  }
}

/** Polls until `endpoint` accepts, or the deadline passes, or `signal` aborts. */
export async function waitForPort(endpoint: Endpoint, timeoutMs: number, signal?: AbortSignal, everyMs = 25): Promise<boolean> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline && !signal?.aborted) {
    if (await canConnect(endpoint, Math.min(500, Math.max(50, deadline - Date.now())))) return true;
    await new Promise((r) => setTimeout(r, everyMs));
  }
  return false;
}

/**
 * Which process listens on `port`, as `pid 123 (ssh -N …)`, where the OS tells us (Linux /proc).
 * Undefined when it cannot be found out (another user's process, or not Linux).
 */
export function portHolder(port: number): string | undefined {
  if (process.platform !== 'linux') return undefined;
  try {
    const hexPort = port.toString(16).toUpperCase().padStart(4, '0');
    const inodes = new Set<string>();
    for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
      let text = '';
      try {
        text = readFileSync(table, 'utf8');
      } catch {
        continue;
      }
      for (const line of text.split('\n').slice(1)) {
        const cols = line.trim().split(/\s+/);
        // local_address is "ADDR:PORT"; state 0A is LISTEN.
        if (cols.length > 9 && cols[1].endsWith(`:${hexPort}`) && cols[3] === '0A') inodes.add(cols[9]);
      }
    }
    if (inodes.size === 0) return undefined;
    for (const pid of readdirSync('/proc')) {
      if (!/^\d+$/.test(pid)) continue;
      let fds: string[];
      try {
        fds = readdirSync(`/proc/${pid}/fd`);
      } catch {
        continue;
      }
      for (const fd of fds) {
        let link: string;
        try {
          link = readlinkSync(`/proc/${pid}/fd/${fd}`);
        } catch {
          continue;
        }
        const m = /^socket:\[(\d+)\]$/.exec(link);
        if (m && inodes.has(m[1])) {
          const cmd = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').filter(Boolean).join(' ');
          return `pid ${pid} (${cmd.length > 80 ? `${cmd.slice(0, 77)}...` : cmd})`;
        }
      }
    }
  } catch {
    return undefined;
  }
  return undefined;
}
