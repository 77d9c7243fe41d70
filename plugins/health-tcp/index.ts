import net from 'node:net';
import { configObject, definePlugin, hostname, port, type HealthResult } from '../../core/index.js';

const PLUGIN_NAME = 'localport:health-tcp';

export const tcpConfigSchema = configObject({ host: hostname().optional(), port: port().optional() });

/**
 * Connects to the forwarded port. This proves only that the local end of the tunnel accepts: an ssh
 * forward whose target is down still accepts and then closes. Use an http, postgres or kafka check to
 * prove the service answers.
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

export const tcpHealthPlugin = () =>
  definePlugin({
    name: PLUGIN_NAME,
    apply(api) {
      api.registerHealthCheck({
        type: 'tcp',
        configSchema: tcpConfigSchema,
        check: (t) => tcpCheck(t.config.host ?? t.host, t.config.port ?? t.port, t.timeout * 1000, t.signal),
      });
    },
  });
