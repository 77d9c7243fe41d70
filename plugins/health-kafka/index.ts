import net from 'node:net';
import { z } from 'zod';
import { configObject, definePlugin, type HealthResult } from '../../core/index.js';

const PLUGIN_NAME = 'localport:health-kafka';

export const kafkaConfigSchema = configObject({
  /** `host:port`, a comma list, or a list; defaults to the forwarded port. */
  bootstrapServers: z.union([z.string().min(1), z.array(z.string().min(1)).min(1)]).optional(),
  clientId: z.string().default('localport-health'),
});
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
          const c = t.config;
          const brokers = c.bootstrapServers ? (Array.isArray(c.bootstrapServers) ? c.bootstrapServers : c.bootstrapServers.split(',').map((b) => b.trim())) : [`${t.host}:${t.port}`];
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
              message: `bootstrap through ${brokers.join(',')} OK; advertised brokers ${unreachable.length ? `NOT reachable from this machine: ${unreachable.join(', ')} (Kafka clients will fail after bootstrap)` : 'reachable'}`,
              details: { bootstrap: 'ok', advertised },
            };
          } catch (error) {
            const e = error as Error & { code?: string; type?: string };
            const msg = e.message ?? String(error);
            const kind = /timed? ?out/i.test(msg) ? 'timeout' : /ECONNREFUSED|Connection error/i.test(msg) ? 'unreachable' : /SASL|authentic/i.test(msg) ? 'auth_rejected' : 'protocol';
            return { ok: false, kind, code: e.type ?? e.code, message: `kafka bootstrap through ${brokers.join(',')} failed: ${msg}` };
          } finally {
            await admin.disconnect().catch(() => {});
          }
        },
      });
    },
  });
