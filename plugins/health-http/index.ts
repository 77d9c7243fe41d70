import type { Duplex } from 'node:stream';
import type { Socket } from 'node:net';
import type { TLSSocket } from 'node:tls';
import { z } from 'zod';
import { bool, configObject, definePlugin, type HealthResult } from '../../core/index.js';

const PLUGIN_NAME = 'localport:health-http';

const statusSpec = z.union([
  z.number().int().min(100).max(599),
  z.array(z.number().int().min(100).max(599)).min(1),
  z.string().regex(/^\d{3}\s*-\s*\d{3}$/, 'must be a code, a list of codes, or a range like "200-299"'),
]);

// Made when a config first uses it (z.lazy): a command builds the schemas of what its config uses only.
export const httpConfigSchema = z.lazy(() =>
  configObject({
    /** A full URL, or a path on the forwarded port (default `/`). */
    // Checked here, not at each check: a URL that cannot parse failed every check and restarted the
    // service forever. The value is never quoted (it may hold a password).
    url: z
      .string()
      .min(1)
      .refine((u) => URL.canParse(u) && /^https?:$/.test(new URL(u).protocol), 'must be an http:// or https:// URL (check the host and the port; in a user or a password, @ is %40 and : is %3A)')
      .optional(),
    path: z.string().startsWith('/').default('/'),
    scheme: z.enum(['http', 'https']).default('http'),
    method: z.enum(['GET', 'HEAD', 'POST', 'PUT', 'OPTIONS']).default('GET'),
    expectedStatus: statusSpec.default('200-399'),
    headers: z.record(z.string(), z.string()).default({}),
    /** A regular expression the response body must match. */
    bodyMatch: z.string().optional(),
    tlsVerify: bool().default(true),
  }),
);
export type HttpCheckConfig = z.output<typeof httpConfigSchema>;

export function statusMatches(spec: HttpCheckConfig['expectedStatus'], status: number): boolean {
  if (typeof spec === 'number') return status === spec;
  if (Array.isArray(spec)) return spec.includes(status);
  const [lo, hi] = spec.split('-').map((x) => Number(x.trim()));
  return status >= lo && status <= hi;
}

/** `http://localhost:PORT/path`: what the check requests, by the name a client of the service uses. */
export const localUrl = (port: number, scheme: string, path: string) => `${scheme}://localhost:${port}${path}`;

/** An undici connector that opens each connection through the tunnel, with TLS on top for https. */
function tunnelConnector(connect: () => Promise<Duplex>, verify: boolean) {
  return (opts: { protocol: string; hostname: string; servername?: string | null }, callback: (...args: [null, Socket | TLSSocket] | [Error, null]) => void) => {
    connect().then(
      async (stream) => {
        // undici reads and writes it as a socket; an in-process forward's stream is a Duplex like one.
        if (opts.protocol !== 'https:') return callback(null, stream as Socket);
        const tls = await import('node:tls');
        const secure = tls.connect({ socket: stream as Socket, servername: opts.servername ?? opts.hostname, rejectUnauthorized: verify, ALPNProtocols: ['http/1.1'] });
        secure.once('secureConnect', () => callback(null, secure));
        secure.once('error', (e) => callback(e, null));
      },
      (error: Error) => callback(error, null),
    );
  };
}

export const httpHealthPlugin = () =>
  definePlugin({
    name: PLUGIN_NAME,
    apply(api) {
      api.registerHealthCheck<HttpCheckConfig>({
        type: 'http',
        configSchema: httpConfigSchema,
        freeFormKeys: ['headers'],
        async check(t): Promise<HealthResult> {
          const { request, Agent } = await import('undici');
          const c = t.config;
          // The URL a user of the service would open (its local port); the connection itself goes
          // through the tunnel (`t.connect()`), so a front that accepts while the tunnel is down
          // cannot make the check pass. A full `url` of its own is requested as written.
          const local = localUrl(t.service?.localPort ?? t.port, c.scheme, c.path);
          const url = c.url ?? local;
          const throughTunnel = c.url === undefined;
          const dispatcher = new Agent({
            connect: throughTunnel ? tunnelConnector(t.connect, c.tlsVerify) : { rejectUnauthorized: c.tlsVerify },
            pipelining: 0,
          });
          try {
            const res = await request(url, {
              method: c.method,
              headers: c.headers,
              dispatcher,
              signal: t.signal,
              headersTimeout: t.timeout * 1000,
              bodyTimeout: t.timeout * 1000,
            });
            const body = c.bodyMatch ? await res.body.text() : (await res.body.dump(), '');
            if (!statusMatches(c.expectedStatus, res.statusCode)) {
              // 401/403: the server is up and refuses these credentials; asking again will not change that.
              const kind = res.statusCode === 401 || res.statusCode === 403 ? 'auth_rejected' : 'service_down';
              return { ok: false, kind, code: String(res.statusCode), message: `${c.method} ${url} answered ${res.statusCode}, expected ${JSON.stringify(c.expectedStatus)}` };
            }
            if (c.bodyMatch && !new RegExp(c.bodyMatch).test(body)) {
              return { ok: false, kind: 'protocol', message: `${c.method} ${url} answered ${res.statusCode} but the body does not match /${c.bodyMatch}/` };
            }
            return { ok: true, code: String(res.statusCode), message: `${c.method} ${url} answered ${res.statusCode}` };
          } catch (error) {
            const e = error as NodeJS.ErrnoException & { name?: string };
            if (t.signal.aborted || e.name === 'AbortError' || /Timeout/.test(e.name ?? '')) return { ok: false, kind: 'timeout', message: `${c.method} ${url}: no answer within ${t.timeout} s` };
            const code = e.code ?? (e.cause as NodeJS.ErrnoException | undefined)?.code;
            const kind = code === 'ECONNREFUSED' ? 'unreachable' : code === 'ECONNRESET' || code === 'UND_ERR_SOCKET' ? 'service_down' : 'protocol';
            return { ok: false, kind, code, message: `${c.method} ${url}: ${code ?? e.message}` };
          } finally {
            void dispatcher.close();
          }
        },
      });
    },
  });
