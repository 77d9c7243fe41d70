import { definePlugin } from 'localport';

const PLUGIN_NAME = 'example:notify';

// A hook-only plugin: POST to a webhook when a service turns unhealthy or fails for good.
export const notifyPlugin = (opts: { url: string }) =>
  definePlugin({
    name: PLUGIN_NAME,
    options: opts,
    apply(api) {
      const post = (text: string) =>
        fetch(opts.url, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ text }) }).catch((e: Error) =>
          api.logger.warn({ err: e.message }, `${PLUGIN_NAME}: webhook failed`),
        );
      api.hooks.healthFailed.tapPromise(PLUGIN_NAME, async (service, result) => {
        await post(`${service.name} is unhealthy (${result.kind}): ${result.message}`);
        return undefined; // no opinion: LocalPort decides whether to restart
      });
      api.hooks.stateChanged.tap(PLUGIN_NAME, ({ service, to, error }) => {
        if (to === 'failed') void post(`${service.name} failed: ${error}`);
      });
    },
  });
