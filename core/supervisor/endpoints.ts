import { unlinkSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import type { Endpoint } from '../types.js';
import { privateDirectory } from '../privateDir.js';

/**
 * The internal endpoints tunnels listen on behind LocalPort's fronts. A loopback port is picked by the
 * kernel (bind to port 0) and handed to the tunnel; a Unix socket lives in a directory private to this
 * LocalPort process, made by mkdtemp (0700, a fresh random name nobody can have planted), removed when
 * the process exits — or, if it was killed, by the next LocalPort that makes one in the same place.
 */

/** sun_path holds 108 bytes on Linux, 104 on macOS and the BSDs: stay under the smaller. */
const MAX_SOCKET_PATH = 103;

let sockets = 0;

/**
 * The directory for sockets: short enough for "/m123456" or "/123456.sock" plus the 17 characters ssh
 * adds to a socket's name while it binds it (`.XXXXXXXXXXXXXXXX`, then renamed) under MAX_SOCKET_PATH,
 * and plain: ssh expands `%` tokens and splits on spaces in ControlPath and in `-L` socket paths.
 */
const SOCKET_ROOM = 1 + 12 + 17;
const PLAIN = /^[A-Za-z0-9_./+-]+$/;
const privateDir = () => privateDirectory('s', (dir) => dir.length + SOCKET_ROOM <= MAX_SOCKET_PATH && PLAIN.test(dir));

/** A free loopback port, as the kernel hands it out. Another process may take it before the tunnel binds: the start then fails transiently and is retried with a new one. */
export function freeLoopbackPort(host = '127.0.0.1'): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen({ host, port: 0, exclusive: true }, () => {
      const { port } = server.address() as net.AddressInfo;
      server.close(() => resolve(port));
    });
  });
}

/**
 * An internal endpoint for one start of a tunnel: a Unix socket path when the technology can listen on
 * one (and this machine has a short enough private directory), else a loopback port.
 */
export async function internalEndpoint(kind: 'tcp' | 'unix'): Promise<Endpoint> {
  if (kind === 'unix' && process.platform !== 'win32') {
    const dir = privateDir();
    if (dir) {
      const file = path.join(dir, `${++sockets}.sock`);
      removeSocket({ path: file });
      return { path: file };
    }
  }
  return { host: '127.0.0.1', port: await freeLoopbackPort() };
}

/** A control socket path for a shared connection (`m<n>` in the private directory); undefined where there is none. */
export function controlPath(): string | undefined {
  if (process.platform === 'win32') return undefined;
  const dir = privateDir();
  if (!dir) return undefined;
  const file = path.join(dir, `m${++sockets}`);
  removeSocket({ path: file });
  return file;
}

/** Removes a Unix socket endpoint's file (a tunnel killed by force leaves it behind). */
export function removeSocket(endpoint: Endpoint): void {
  if (!('path' in endpoint)) return;
  try {
    unlinkSync(endpoint.path);
  } catch {
    /* not there */
  }
}

/** How a relay reads a socket without a buffer per read (see connectTo). */
export interface Reader {
  sink?: (chunk: Buffer) => boolean;
  pending: Buffer[];
}

/** The reader a socket was made with, if any: the relay takes it over. */
const readers = new WeakMap<object, Reader>();
export const readerOf = (socket: object): Reader | undefined => readers.get(socket);

export const describeEndpoint = (e: Endpoint) => ('path' in e ? e.path : net.isIPv6(e.host) ? `[${e.host}]:${e.port}` : `${e.host}:${e.port}`);

/** The size of the one buffer a relayed socket reads into (Node's own read size). */
const READ_BUFFER = 64 * 1024;

/**
 * Connects to an endpoint; resolves with the connected socket, rejects with the connect error. With a
 * `reader`, the socket reads into one buffer of its own instead of a new one per read (no garbage for
 * every 64 KiB relayed): what it reads goes to `reader.sink` (which returns false to pause until the
 * socket is resumed), or, before there is a sink, is kept in `reader.pending`.
 */
export function connectTo(endpoint: Endpoint, signal?: AbortSignal, timeoutMs?: number, reader?: Reader): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const onread = reader
      ? {
          buffer: Buffer.allocUnsafe(READ_BUFFER),
          callback: (n: number, buf: Buffer): boolean => {
            const chunk = buf.subarray(0, n);
            if (reader.sink) return reader.sink(chunk);
            reader.pending.push(Buffer.from(chunk));
            return false;
          },
        }
      : undefined;
    const socket = 'path' in endpoint ? net.connect({ path: endpoint.path, ...(onread ? { onread } : {}) }) : net.connect({ host: endpoint.host, port: endpoint.port, noDelay: true, ...(onread ? { onread } : {}) });
    if (reader) readers.set(socket, reader);
    let timer: NodeJS.Timeout | undefined;
    const fail = (error: Error) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      reject(error);
    };
    const onAbort = () => fail(Object.assign(new Error('aborted'), { code: 'ABORT_ERR' }));
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    if (timeoutMs !== undefined) timer = setTimeout(() => fail(Object.assign(new Error(`no answer from ${describeEndpoint(endpoint)} within ${timeoutMs} ms`), { code: 'ETIMEDOUT' })), timeoutMs);
    socket.once('error', fail);
    socket.once('connect', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.off('error', fail);
      resolve(socket);
    });
  });
}
