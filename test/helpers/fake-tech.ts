import { fileURLToPath } from 'node:url';
import { z } from 'zod';
import { configObject, definePlugin } from '../../core/index.js';

export const FAKE_TUNNEL = fileURLToPath(new URL('../fixtures/fake-tunnel.mjs', import.meta.url));

/** A technology whose process is test/fixtures/fake-tunnel.mjs: real child processes, no network peer. */
export const fakeTechPlugin = () =>
  definePlugin({
    name: 'test:fake',
    apply(api) {
      api.registerTechnology({
        type: 'fake',
        connectionSchema: configObject({ mode: z.enum(['ok', 'fail', 'hang', 'reset', 'denied']).default('ok'), delay: z.number().default(0), flag: z.string().optional(), createDelay: z.number().default(0) }),
        describeTarget: (s) => `fake:${s.remotePort}`,
        createForward: async (s, ctx) => {
          // Listens where core says: the internal loopback port behind LocalPort's front (or, with relay: false, the local port).
          const listenPort = 'port' in ctx.listen ? ctx.listen.port : s.localPort;
          // A technology that does async work before spawning (a lookup, a token): the window a stop can hit.
          if (s.connection.createDelay) await new Promise((r) => setTimeout(r, s.connection.createDelay));
          return {
          command: process.execPath,
          args: [FAKE_TUNNEL, String(listenPort), s.connection.mode, String(s.connection.delay), ...(s.connection.flag ? [s.connection.flag] : [])],
          ready: { output: /^LISTENING / },
          // A plain string (the original contract: permanent), and the two classified kinds.
          explainExit: (info) =>
            /refused the forward/.test(info.output)
              ? 'the fake remote refused the forward'
              : /connection reset/.test(info.output)
                ? { message: 'the fake remote reset the connection', failure: 'transient' as const }
                : /permission denied/.test(info.output)
                  ? { message: 'the fake remote refused our credentials', failure: 'rejected' as const }
                  : undefined,
          };
        },
      });
    },
  });
