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
        createForward: (s) => ({
          command: s.connection.socat,
          args: [`TCP-LISTEN:${s.localPort},bind=127.0.0.1,reuseaddr,fork`, `TCP:${s.connection.host}:${s.remotePort}`],
          ready: { port: true },
          explainExit: ({ output }) => (/Address already in use/.test(output) ? `local port ${s.localPort} is in use` : undefined),
        }),
      });
    },
  });
