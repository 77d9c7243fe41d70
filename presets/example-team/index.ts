import { definePreset } from '../../core/index.js';

/**
 * An example team preset, as `@acme/localport-preset` would publish it: the shared databases behind the
 * team's bastion and cluster, sensible defaults, every secret from the environment. A project extends it
 * and adds or overrides its own services:
 *
 *   export default defineConfig({ extends: ['@acme/localport-preset'], services: { api: { … } } })
 */
export default definePreset({
  name: '@acme/localport-preset',
  defaults: {
    healthCheck: { interval: 15, timeout: 3, failureThreshold: 3 },
    restartPolicy: { initialDelay: 0.25, backoffMultiplier: 2, maxDelay: 30 },
  },
  services: {
    postgres: {
      technology: 'kubectl',
      localPort: 5432,
      remotePort: 5432,
      connection: { resourceType: 'service', resourceName: 'postgres', namespace: 'data', context: '${ACME_KUBE_CONTEXT:acme-dev}' },
      tags: ['database'],
      healthCheck: { type: 'postgres', config: { user: '${ACME_PG_USER:app}', password: '${ACME_PG_PASSWORD:}', database: 'app' } },
    },
    redis: {
      technology: 'ssh',
      localPort: 6379,
      remotePort: 6379,
      connection: { host: '${ACME_BASTION:bastion.acme.internal}', user: '${USER:dev}', remoteHost: 'redis.internal' },
      tags: ['cache'],
    },
    kafka: {
      technology: 'kubectl',
      localPort: 9092,
      remotePort: 9092,
      connection: { resourceType: 'service', resourceName: 'kafka', namespace: 'messaging', context: '${ACME_KUBE_CONTEXT:acme-dev}' },
      tags: ['messaging'],
      healthCheck: { type: 'kafka' },
      // Off unless a project switches it on: most services do not need the broker.
      enabled: false,
    },
  },
});
