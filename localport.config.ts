// A working example: `localport config validate -c localport.config.ts` checks it (the test suite does).
// Values written as ${VAR} come from the environment and are never shown; ${VAR:default} has a fallback.
import { defineConfig } from 'localport';

export default defineConfig({
  defaults: {
    healthCheck: { interval: 10, timeout: 3, failureThreshold: 3 },
    restartPolicy: { initialDelay: 0.25, backoffMultiplier: 2, maxDelay: 30 },
  },
  services: {
    // Kubernetes: kubectl port-forward service/postgres 5432:5432 in namespace "data".
    db: {
      technology: 'kubectl',
      localPort: 5432,
      remotePort: 5432,
      connection: { resourceType: 'service', resourceName: 'postgres', namespace: 'data', context: '${KUBE_CONTEXT:dev}' },
      tags: ['database'],
      healthCheck: { type: 'postgres', config: { user: 'app', database: 'app', password: '${PGPASSWORD:}' } },
    },
    // Behind a bastion: ssh -N -L 127.0.0.1:8080:api.internal:80 deploy@bastion.example.com
    api: {
      technology: 'ssh',
      localPort: 8080,
      remotePort: 80,
      connection: { host: 'bastion.example.com', user: 'deploy', remoteHost: 'api.internal', keyFile: '~/.ssh/id_ed25519' },
      tags: ['http'],
      healthCheck: { type: 'http', config: { path: '/healthz', expectedStatus: 200 } },
    },
  },
});
