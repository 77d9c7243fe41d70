import net from 'node:net';
import { configObject, definePlugin, hostname, openConnection, seconds, z, type ExitExplanation, type ServiceDefinition, type StreamForwardSpec } from '../../core/index.js';

const PLUGIN_NAME = 'localport:tcp';

/**
 * `tcp`: relays the service's local port to `connection.host:remote_port` directly, inside LocalPort,
 * with no child process. For a database reachable over a VPN, a container's port, an IPv4-only server
 * exposed on ::1 too, or a quickstart with nothing installed but Node. It uses only the public
 * in-process forward API (StreamForwardSpec), as a third-party technology would.
 */
// Made when a config first uses it (z.lazy): a command builds the schemas of what its config uses only.
export const tcpConnectionSchema = z.lazy(() =>
  configObject({
    // A host and nothing else: `user:password@host` has no meaning for a TCP hop (and would show a secret).
    host: hostname().refine((h) => !/[@/\s]/.test(h), 'must be a host name or an IP address (no user, password or path)'),
    /** Unset: LocalPort listens on 127.0.0.1 and ::1. */
    bindAddress: hostname().optional(),
    /** How long one connection to the target may take to open. */
    connectTimeout: seconds()
      .refine((v) => v > 0, 'must be more than 0')
      .default(10),
  }),
);

export type TcpConnection = z.output<typeof tcpConnectionSchema>;
export type TcpConnectionInput = { host: string; bindAddress?: string; connectTimeout?: number | string };

declare module '../../core/types.js' {
  interface TechnologyConnections {
    tcp: TcpConnectionInput;
  }
}

const showHost = (host: string, port: number) => (net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`);

/** Whether `host` names this machine's loopback or every address (where LocalPort's own listener is). */
export function isThisMachine(host: string): boolean {
  const h = host.replace(/^\[|\]$/g, '').toLowerCase();
  return h === 'localhost' || h === '::1' || h === '::' || h === '0.0.0.0' || (net.isIPv4(h) && h.startsWith('127.'));
}

/** What a failed connection to the target means, and whether trying again may help. */
export function explainTcpError(service: ServiceDefinition<TcpConnection>, error: NodeJS.ErrnoException): ExitExplanation {
  const target = showHost(service.connection.host, service.remotePort);
  switch (error.code) {
    case 'ECONNREFUSED':
      return { message: `connection refused by ${target}; is the service running there, on that port?`, failure: 'permanent' };
    case 'ENOTFOUND':
    case 'EAI_NONAME':
      return { message: `unknown host ${service.connection.host}; check connection.host`, failure: 'permanent' };
    case 'ETIMEDOUT':
    case 'EHOSTUNREACH':
    case 'ENETUNREACH':
    case 'EAI_AGAIN':
    case 'ECONNRESET':
      return { message: `${target} could not be reached (${error.code}); is the network (VPN) up?`, failure: 'transient' };
    default:
      return { message: `${target}: ${error.message}`, failure: 'transient' };
  }
}

export const tcpPlugin = () =>
  definePlugin({
    name: PLUGIN_NAME,
    apply(api) {
      api.registerTechnology<TcpConnection>({
        type: 'tcp',
        connectionSchema: tcpConnectionSchema,
        inProcess: true,
        localAddress: (c) => c.bindAddress,
        describeTarget: (s) => showHost(s.connection.host, s.remotePort),
        createForward(service): StreamForwardSpec {
          const { host, connectTimeout } = service.connection;
          if (service.remotePort === service.localPort && isThisMachine(host)) {
            // LocalPort listens there itself: every connection would open another, until no descriptor is left.
            const loop = Object.assign(new Error(`${showHost(host, service.remotePort)} is this service's own local port`), { code: 'ELOOP' });
            return { connect: () => Promise.reject(loop), ready: () => Promise.reject(loop), explainError: (error) => explainTcpError(service, error as NodeJS.ErrnoException) };
          }
          return {
            // `opts.reader`: the relay's own read buffer for this socket (see ConnectOptions).
            connect: (signal, opts) => openConnection({ host, port: service.remotePort }, signal, connectTimeout * 1000, opts?.reader),
            explainError: (error) => explainTcpError(service, error as NodeJS.ErrnoException),
          };
        },
        async doctor(services) {
          const hosts = [...new Set(services.map((s) => s.connection.host))];
          return Promise.all(
            hosts.map(async (host) => {
              const dns = await import('node:dns');
              const found = net.isIP(host) ? host : await dns.promises.lookup(host).then((a) => a.address, (e: NodeJS.ErrnoException) => `${e.code}`);
              const ok = net.isIP(found) !== 0;
              return { name: `host ${host}`, ok, required: true, detail: ok ? (found === host ? 'an IP address' : `resolves to ${found}`) : `does not resolve (${found}); check connection.host` };
            }),
          );
        },
      });
    },
  });
