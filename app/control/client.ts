import net from 'node:net';
import { isErrorCode, LocalPortError } from '../../core/errors.js';
import type { Method, Response } from './protocol.js';
import { ABSENT, socketProblem } from './socketdir.js';

let nextId = 1;

/**
 * One request over the control socket; rejects with the daemon's error as a LocalPortError.
 * The socket is checked first: a socket that is not ours, or in a directory others control, may be
 * a fake daemon, and nothing is sent to it or believed from it.
 */
export function request<T = unknown>(socketPath: string, method: Method, params?: unknown, timeoutMs = 60_000): Promise<T> {
  return new Promise((resolve, reject) => {
    const problem = socketProblem(socketPath);
    if (problem === ABSENT) {
      reject(new LocalPortError('DAEMON_UNREACHABLE', `cannot reach the daemon at ${socketPath}: ENOENT`));
      return;
    }
    if (problem) {
      reject(new LocalPortError('DAEMON_SOCKET_UNSAFE', `refusing to talk to the control socket ${socketPath}: ${problem.message}`, { hint: problem.hint }));
      return;
    }
    const id = nextId++;
    const socket = net.connect(socketPath);
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new LocalPortError('DAEMON_TIMEOUT', `the daemon did not answer '${method}' within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify(params === undefined ? { id, method } : { id, method, params })}\n`));
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      const nl = buffer.indexOf('\n');
      if (nl < 0) return;
      clearTimeout(timer);
      socket.end();
      let res: Response;
      try {
        res = JSON.parse(buffer.slice(0, nl)) as Response;
      } catch {
        reject(new LocalPortError('DAEMON_BAD_REPLY', `the daemon at ${socketPath} answered '${method}' with something that is not JSON`));
        return;
      }
      if (res.ok) resolve(res.result as T);
      // A code this CLI does not know (a daemon of another version) is reported as INTERNAL, with its message.
      else reject(new LocalPortError(isErrorCode(res.error.code) ? res.error.code : 'INTERNAL', res.error.message, { hint: res.error.hint }));
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      clearTimeout(timer);
      reject(new LocalPortError('DAEMON_UNREACHABLE', `cannot reach the daemon at ${socketPath}: ${e.code ?? e.message}`));
    });
  });
}

/** Whether a daemon answers on this socket. */
export async function ping(socketPath: string, timeoutMs = 2000): Promise<{ pid: number } | undefined> {
  try {
    return await request<{ pid: number }>(socketPath, 'ping', undefined, timeoutMs);
  } catch {
    return undefined;
  }
}

/** How a subscription ended: the daemon closed the stream (it stopped, or died), or the caller aborted. */
export type StreamEnd = 'closed' | 'aborted';

/**
 * Subscribes to the daemon's event stream: `onEvent` gets each event (one JSON line each, parsed) until
 * the daemon closes the stream (resolves 'closed') or `signal` aborts (resolves 'aborted'). Rejects,
 * as `request` does, when the daemon cannot be reached or refuses the subscription (an unknown
 * service, too many subscribers). A line that is not JSON is skipped: one bad line does not end a stream.
 * `onSubscribed`: the daemon accepted the subscription; every event from now on is delivered.
 */
export function subscribe(socketPath: string, names: string[], onEvent: (event: unknown) => void, signal?: AbortSignal, timeoutMs = 10_000, onSubscribed?: () => void): Promise<StreamEnd> {
  return new Promise((resolve, reject) => {
    const problem = socketProblem(socketPath);
    if (problem === ABSENT) return reject(new LocalPortError('DAEMON_UNREACHABLE', `cannot reach the daemon at ${socketPath}: ENOENT`));
    if (problem) return reject(new LocalPortError('DAEMON_SOCKET_UNSAFE', `refusing to talk to the control socket ${socketPath}: ${problem.message}`, { hint: problem.hint }));
    const id = nextId++;
    const socket = net.connect(socketPath);
    let subscribed = false;
    let buffer = '';
    const timer = setTimeout(() => {
      socket.destroy();
      reject(new LocalPortError('DAEMON_TIMEOUT', `the daemon did not answer 'subscribe' within ${timeoutMs / 1000} s`));
    }, timeoutMs);
    const abort = () => {
      socket.destroy();
      clearTimeout(timer);
      resolve('aborted');
    };
    if (signal?.aborted) return abort();
    signal?.addEventListener('abort', abort, { once: true });
    socket.setEncoding('utf8');
    socket.on('connect', () => socket.write(`${JSON.stringify({ id, method: 'subscribe', params: { names } })}\n`));
    const line = (text: string) => {
      let msg: unknown;
      try {
        msg = JSON.parse(text);
      } catch {
        if (!subscribed) reject(new LocalPortError('DAEMON_BAD_REPLY', `the daemon at ${socketPath} answered 'subscribe' with something that is not JSON`));
        return;
      }
      // An event is an object; anything else on the stream (a bare `null`, a number) is not one.
      if (subscribed) return msg !== null && typeof msg === 'object' && !Array.isArray(msg) ? onEvent(msg) : undefined;
      clearTimeout(timer);
      const res = msg as Response;
      if (res.ok) {
        subscribed = true;
        onSubscribed?.();
      } else {
        socket.destroy();
        reject(new LocalPortError(isErrorCode(res.error.code) ? res.error.code : 'INTERNAL', res.error.message, { hint: res.error.hint }));
      }
    };
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      let nl: number;
      while ((nl = buffer.indexOf('\n')) >= 0) {
        const text = buffer.slice(0, nl);
        buffer = buffer.slice(nl + 1);
        if (text.trim()) line(text);
      }
    });
    socket.on('error', (e: NodeJS.ErrnoException) => {
      if (subscribed) return;
      clearTimeout(timer);
      reject(new LocalPortError('DAEMON_UNREACHABLE', `cannot reach the daemon at ${socketPath}: ${e.code ?? e.message}`));
    });
    socket.on('close', () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', abort);
      if (subscribed) resolve('closed');
      else reject(new LocalPortError('DAEMON_UNREACHABLE', `the daemon at ${socketPath} closed the connection before answering 'subscribe'`));
    });
  });
}
