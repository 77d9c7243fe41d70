import net from 'node:net';
import { configObject, definePlugin, z, type HealthResult } from 'localport';

const PLUGIN_NAME = 'example:banner';

// A health check: the service must greet with a banner matching `expect` (SSH, SMTP, FTP, …),
// which proves more than an accepted connection: something real answers through the tunnel.
const config = configObject({ expect: z.string().min(1) });

export const bannerCheckPlugin = () =>
  definePlugin({
    name: PLUGIN_NAME,
    apply(api) {
      api.registerHealthCheck<z.output<typeof config>>({
        type: 'banner',
        configSchema: config,
        check: ({ host, port, config, signal }) =>
          new Promise<HealthResult>((resolve) => {
            const socket = net.connect({ host, port });
            const done = (r: HealthResult) => {
              socket.destroy();
              resolve(r);
            };
            signal.addEventListener('abort', () => done({ ok: false, kind: 'timeout', message: 'no banner in time' }));
            socket.once('error', (e: NodeJS.ErrnoException) => done({ ok: false, kind: 'unreachable', code: e.code, message: e.message }));
            socket.once('close', () => done({ ok: false, kind: 'service_down', message: 'closed without a banner' }));
            socket.once('data', (d) => {
              const banner = d.toString('utf8').split('\n')[0].trim();
              const ok = new RegExp(config.expect).test(banner);
              done(ok ? { ok, message: banner } : { ok, kind: 'protocol', message: `unexpected banner: ${banner}` });
            });
          }),
      });
    },
  });
