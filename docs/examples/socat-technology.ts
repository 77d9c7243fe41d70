import { configObject, definePlugin, hostname, z } from 'localport';

const PLUGIN_NAME = 'example:socat';

// A custom technology: forward with socat to a host this machine can reach.
const connection = configObject({ host: hostname(), socat: z.string().default('socat') });

declare module 'localport' {
  interface TechnologyConnections {
    socat: { host: string; socat?: string };
  }
}

export const socatPlugin = () =>
  definePlugin({
    name: PLUGIN_NAME,
    apply(api) {
      api.registerTechnology<z.output<typeof connection>>({
        type: 'socat',
        connectionSchema: connection,
        describeTarget: (s) => `socat → ${s.connection.host}:${s.remotePort}`,
        // Listen where LocalPort says (`listen`): an internal loopback port behind LocalPort's own
        // listener on the service's local port (or, with `relay: false`, the local port itself).
        createForward: (s, { listen }) => {
          if ('path' in listen) throw new Error('socat is set up for TCP here: declare no `endpoint`');
          return {
            command: s.connection.socat,
            args: [`TCP-LISTEN:${listen.port},bind=${listen.host},reuseaddr,fork`, `TCP:${s.connection.host}:${s.remotePort}`],
            ready: { port: true },
            explainExit: ({ output }) => (/Address already in use/.test(output) ? `port ${listen.port} is in use` : undefined),
          };
        },
      });
    },
  });
