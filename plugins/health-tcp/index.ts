import net from 'node:net';
import type { Duplex } from 'node:stream';
import { configObject, definePlugin, hostname, port, seconds, z, type HealthResult } from '../../core/index.js';

const PLUGIN_NAME = 'localport:health-tcp';

// Made when a config first uses it (z.lazy): a command builds the schemas of what its config uses only.
export const tcpConfigSchema = z.lazy(() =>
  configObject({
    host: hostname().optional(),
    port: port().optional(),
    /** Seconds a connection through the tunnel is watched for a close at once (see LINGER_MS); 0: not watched. */
    linger: seconds().refine((v) => v <= 5, 'must be at most 5 s (the check waits this long every time)').optional(),
  }),
);

/**
 * Connects to `host:port`. Used for a check with its own `host`/`port`; a service's own check goes
 * through `target.connect()` (see below).
 */
export function tcpCheck(host: string, port: number, timeoutMs: number, signal?: AbortSignal): Promise<HealthResult> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const finish = (r: HealthResult) => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      resolve(r);
    };
    const onAbort = () => finish({ ok: false, kind: 'timeout', message: `no TCP answer from ${host}:${port} within ${timeoutMs} ms` });
    const timer = setTimeout(onAbort, timeoutMs);
    signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => finish({ ok: true, message: `${host}:${port} accepts connections` }));
    socket.once('error', (e: NodeJS.ErrnoException) => finish({ ok: false, kind: 'unreachable', code: e.code, message: `${host}:${port}: ${e.code ?? e.message}` }));
  });
}

/**
 * How long a connection through the tunnel is watched after it opened, by default. A tunnel accepts at
 * its own end and only then asks the far side: when the target behind it refuses, ssh or kubectl closes
 * the connection at once, with no byte — one round trip to the bastion later; a live target keeps it open
 * (or speaks first). 50 ms covers a bastion in the same region and costs a start little (the time-to-
 * healthy bench: 100 ms cost one service 1.45× bare ssh against 0.98×); `linger` sets it per service.
 */
export const LINGER_MS = 50;

/** Watches an opened connection for LINGER_MS: data or silence is a live target, a close without a byte is none. */
function linger(stream: Duplex, ms: number): Promise<HealthResult> {
  return new Promise((resolve) => {
    const done = (result: HealthResult) => {
      clearTimeout(timer);
      stream.removeAllListeners('data');
      stream.destroy();
      resolve(result);
    };
    const closed = () => done({ ok: false, kind: 'service_down', message: 'the tunnel accepted the connection and closed it at once, with no data: nothing seems to listen behind it' });
    const timer = setTimeout(() => done({ ok: true, message: 'accepts connections' }), ms);
    stream.once('data', () => done({ ok: true, message: 'accepts connections (and speaks first)' }));
    stream.once('end', closed);
    stream.once('close', closed);
    stream.once('error', closed);
    stream.resume();
  });
}

/**
 * One connection to the service's upstream, opened by core (`HealthTarget.connect`), watched for
 * LINGER_MS (see there), and closed.
 */
export async function connectCheck(connect: () => Promise<Duplex>, timeoutMs: number, signal?: AbortSignal, lingerMs = LINGER_MS): Promise<HealthResult> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<HealthResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, kind: 'timeout', message: `no connection within ${timeoutMs} ms` }), timeoutMs);
    signal?.addEventListener('abort', () => resolve({ ok: false, kind: 'timeout', message: `no connection within ${timeoutMs} ms` }), { once: true });
  });
  const opened = connect().then(
    (stream): Promise<HealthResult> => linger(stream, Math.min(lingerMs, timeoutMs)),
    (e: NodeJS.ErrnoException): HealthResult => ({ ok: false, kind: 'unreachable', code: e.code, message: `no connection: ${e.code ?? e.message}` }),
  );
  try {
    return await Promise.race([opened, timedOut]);
  } finally {
    // A connection that opens after the timeout is closed all the same (above).
    clearTimeout(timer);
  }
}

export const tcpHealthPlugin = () =>
  definePlugin({
    name: PLUGIN_NAME,
    apply(api) {
      api.registerHealthCheck({
        type: 'tcp',
        configSchema: tcpConfigSchema,
        // Through the tunnel: connecting to LocalPort's own listener would succeed while the tunnel is
        // down. This proves the tunnel's local end (or an in-process forward's upstream) accepts and,
        // within LINGER_MS, that the tunnel does not close it at once (its target refused); use an
        // http, postgres or kafka check to prove the service answers.
        check: (t) => (t.config.host !== undefined || t.config.port !== undefined ? tcpCheck(t.config.host ?? t.host, t.config.port ?? t.port, t.timeout * 1000, t.signal) : connectCheck(t.connect, t.timeout * 1000, t.signal, t.config.linger === undefined ? LINGER_MS : t.config.linger * 1000)),
      });
    },
  });
