import { z } from 'zod';
import { configObject, definePlugin, hostname, port, type HealthFailureKind, type HealthResult } from '../../core/index.js';

const PLUGIN_NAME = 'localport:health-postgres';

// Made when a config first uses it (z.lazy): a command builds the schemas of what its config uses only.
export const postgresConfigSchema = z.lazy(() =>
  configObject({
    database: z.string().min(1).default('postgres'),
    user: z.string().min(1).default('postgres'),
    password: z.string().optional(),
    host: hostname().optional(),
    port: port().optional(),
    query: z.string().min(1).default('SELECT 1'),
  }),
);
export type PostgresCheckConfig = z.output<typeof postgresConfigSchema>;

/** What a pg error means for the service (by SQLSTATE: PostgreSQL manual, appendix A "Error Codes"). */
export function classifyPgError(e: { code?: string; message?: string }): HealthFailureKind {
  const code = e.code ?? '';
  if (code === '28P01' || code === '28000') return 'auth_rejected';
  if (code === 'ECONNREFUSED' || code === 'EHOSTUNREACH' || code === 'ENOTFOUND') return 'unreachable';
  if (/timeout/i.test(e.message ?? '')) return 'timeout';
  if (code === 'ECONNRESET' || code === '3D000' || code === '57P03' || /terminated unexpectedly/i.test(e.message ?? '')) return 'service_down';
  return 'protocol';
}

export const postgresHealthPlugin = () =>
  definePlugin({
    name: PLUGIN_NAME,
    apply(api) {
      api.registerHealthCheck<PostgresCheckConfig>({
        type: 'postgres',
        configSchema: postgresConfigSchema,
        async check(t): Promise<HealthResult> {
          const pg = (await import('pg')).default;
          const c = t.config;
          const client = new pg.Client({
            host: c.host ?? t.host,
            port: c.port ?? t.port,
            user: c.user,
            password: c.password,
            database: c.database,
            connectionTimeoutMillis: t.timeout * 1000,
            query_timeout: t.timeout * 1000,
          });
          client.on('error', () => {}); // a dropped connection after the check must not crash LocalPort
          const onAbort = () => void client.end().catch(() => {});
          t.signal.addEventListener('abort', onAbort, { once: true });
          try {
            await client.connect();
            await client.query(c.query);
            return { ok: true, message: `${c.query} as ${c.user} on ${c.database} succeeded` };
          } catch (error) {
            const e = error as { code?: string; message?: string };
            return { ok: false, kind: classifyPgError(e), code: e.code, message: `postgres: ${e.code ? `${e.code} ` : ''}${e.message ?? String(error)}` };
          } finally {
            t.signal.removeEventListener('abort', onAbort);
            // A graceful end waits for the server to close the socket; through a tunnel that may never
            // come. The verdict is already known: give the close a moment, then drop the socket.
            const ended = client.end().catch(() => {});
            const timer = setTimeout(() => (client as unknown as { connection?: { stream?: { destroy(): void } } }).connection?.stream?.destroy(), 500);
            await ended;
            clearTimeout(timer);
          }
        },
      });
    },
  });
