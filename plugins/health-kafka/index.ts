import { createRequire } from 'node:module';
import net from 'node:net';
import { z } from 'zod';
import { configObject, definePlugin, type HealthResult } from '../../core/index.js';

const PLUGIN_NAME = 'localport:health-kafka';

// Made when a config first uses it (z.lazy): a command builds the schemas of what its config uses only.
export const kafkaConfigSchema = z.lazy(() =>
  configObject({
    /** `host:port`, a comma list, or a list; defaults to the forwarded port. */
    bootstrapServers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
    clientId: z.string().default('localport-health'),
  }),
);
export type KafkaCheckConfig = z.output<typeof kafkaConfigSchema>;

function reachable(host: string, port: number, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.connect({ host, port });
    const t = setTimeout(() => done(false), ms);
    const done = (ok: boolean) => {
      clearTimeout(t);
      s.destroy();
      resolve(ok);
    };
    s.once('connect', () => done(true));
    s.once('error', () => done(false));
  });
}

let requestQueueQuieted = false;

/**
 * kafkajs 2.2.4, its last release, re-arms a timer after every response with the delay
 * `throttledUntil - Date.now()`, which is negative (about -Date.now()) whenever no broker throttles it: a 1 ms
 * poll for as long as the client is connected, and on Node 23 and later a `TimeoutNegativeWarning` on
 * LocalPort's stderr, in the middle of `run`'s output. With nothing pending and no throttle that timer has
 * nothing to do — a new request is sent at once, or queued and the timer armed then — so it is not armed.
 */
function quietRequestQueue() {
  if (requestQueueQuieted) return;
  requestQueueQuieted = true;
  // Not part of kafkajs's typed API (it has no "exports" map, so the file is reachable); the one it imports.
  const RequestQueue = createRequire(import.meta.url)('kafkajs/src/network/requestQueue/index.js') as {
    prototype: { scheduleCheckPendingRequests(this: { pending: unknown[]; throttledUntil: number }): void };
  };
  const schedule = RequestQueue.prototype.scheduleCheckPendingRequests;
  if (typeof schedule !== 'function') return;
  RequestQueue.prototype.scheduleCheckPendingRequests = function () {
    if (this.pending.length === 0 && !(this.throttledUntil > Date.now())) return;
    schedule.call(this);
  };
}

/**
 * Bootstraps through the tunnel and asks for cluster metadata. Kafka clients then reconnect to the
 * brokers' advertised addresses, which through a tunnel are usually cluster-internal, so the check
 * reports separately whether those addresses are reachable from this machine.
 */
export const kafkaHealthPlugin = () =>
  definePlugin({
    name: PLUGIN_NAME,
    apply(api) {
      api.registerHealthCheck<KafkaCheckConfig>({
        type: 'kafka',
        configSchema: kafkaConfigSchema,
        async check(t): Promise<HealthResult> {
          const { Kafka, logLevel } = (await import('kafkajs')).default;
          quietRequestQueue();
          const c = t.config;
          const brokers = c.bootstrapServers ? (Array.isArray(c.bootstrapServers) ? c.bootstrapServers : c.bootstrapServers.split(',').map((b) => b.trim())) : [`${t.host}:${t.port}`];
          // Named as a client of the service would (its local port); the check itself reaches the tunnel.
          const shown = c.bootstrapServers ? brokers : [`localhost:${t.service?.localPort ?? t.port}`];
          const ms = t.timeout * 1000;
          const kafka = new Kafka({ clientId: c.clientId, brokers, connectionTimeout: ms, requestTimeout: ms, retry: { retries: 0 }, logLevel: logLevel.NOTHING });
          const admin = kafka.admin({ retry: { retries: 0 } });
          try {
            await admin.connect();
            const cluster = await admin.describeCluster();
            const advertised = await Promise.all(
              cluster.brokers.map(async (b) => ({ broker: `${b.host}:${b.port}`, reachable: await reachable(b.host, b.port, Math.min(ms, 2000)) })),
            );
            const unreachable = advertised.filter((a) => !a.reachable).map((a) => a.broker);
            return {
              ok: true,
              message: `bootstrap through ${shown.join(',')} OK; advertised brokers ${unreachable.length ? `NOT reachable from this machine: ${unreachable.join(', ')} (Kafka clients will fail after bootstrap)` : 'reachable'}`,
              details: { bootstrap: 'ok', advertised },
            };
          } catch (error) {
            const e = error as Error & { code?: string; type?: string };
            const msg = e.message ?? String(error);
            const kind = /timed? ?out/i.test(msg) ? 'timeout' : /ECONNREFUSED|Connection error/i.test(msg) ? 'unreachable' : /SASL|authentic/i.test(msg) ? 'auth_rejected' : 'protocol';
            return { ok: false, kind, code: e.type ?? e.code, message: `kafka bootstrap through ${shown.join(',')} failed: ${msg}` };
          } finally {
            await admin.disconnect().catch(() => {});
          }
        },
      });
    },
  });
