import net from 'node:net';
import type { Duplex } from 'node:stream';
import { configObject, definePlugin, hostname, port, type HealthResult } from '../../core/index.js';

const PLUGIN_NAME = 'localport:health-tcp';

export const tcpConfigSchema = configObject({ host: hostname().optional(), port: port().optional() });

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

/** One connection to the service's upstream, opened by core (`HealthTarget.connect`) and closed at once. */
export async function connectCheck(connect: () => Promise<Duplex>, timeoutMs: number, signal?: AbortSignal): Promise<HealthResult> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<HealthResult>((resolve) => {
    timer = setTimeout(() => resolve({ ok: false, kind: 'timeout', message: `no connection within ${timeoutMs} ms` }), timeoutMs);
    signal?.addEventListener('abort', () => resolve({ ok: false, kind: 'timeout', message: `no connection within ${timeoutMs} ms` }), { once: true });
  });
  const opened = connect().then(
    (stream): HealthResult => {
      stream.destroy();
      return { ok: true, message: 'accepts connections' };
    },
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
        // down. This proves the tunnel's local end (or an in-process forward's upstream) accepts; an
        // ssh forward whose target is down still accepts and then closes, so use an http, postgres or
        // kafka check to prove the service answers.
        check: (t) => (t.config.host !== undefined || t.config.port !== undefined ? tcpCheck(t.config.host ?? t.host, t.config.port ?? t.port, t.timeout * 1000, t.signal) : connectCheck(t.connect, t.timeout * 1000, t.signal)),
      });
    },
  });
