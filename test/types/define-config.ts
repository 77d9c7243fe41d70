// Type-level tests, checked by `tsc -p tsconfig.test.json` before every test run. Each
// `@ts-expect-error` must sit on a line that really is a type error, or tsc fails the build:
// so these prove that defineConfig catches the mistakes, not merely that this file compiles.
import { defineConfig, definePreset } from 'localport';

export const good = defineConfig({
  extends: ['@acme/localport-preset'],
  services: {
    db: { technology: 'kubectl', localPort: 5432, remotePort: 5432, connection: { resourceName: 'postgres', namespace: 'data' } },
    api: { technology: 'ssh', localPort: 8080, remotePort: 80, connection: { host: 'bastion', user: 'deploy' }, tags: ['http'] },
    tunnel: { technology: 'exec', localPort: 9000, remotePort: 9000, connection: { command: 'my-proxy', args: ['--port', '{localPort}'] } },
  },
});

export const misspeltServiceKey = defineConfig({
  services: {
    // @ts-expect-error — `lcoalPort` is not a key (and `localPort` is missing)
    api: { technology: 'ssh', lcoalPort: 8080, remotePort: 80, connection: { host: 'bastion' } },
  },
});

export const misspeltTopLevelKey = defineConfig({
  services: {},
  // @ts-expect-error — `default` is not a key; `defaults` is
  default: { restartPolicy: { maxAttempts: 3 } },
});

export const wrongConnectionType = defineConfig({
  // @ts-expect-error — ssh's `port` is a number (reported on the services object)
  services: {
    api: { technology: 'ssh', localPort: 8080, remotePort: 80, connection: { host: 'bastion', port: '22' } },
  },
});

export const connectionOfAnotherTechnology = defineConfig({
  services: {
    // @ts-expect-error — kubectl needs `resourceName`, and `host` is not one of its keys
    db: { technology: 'kubectl', localPort: 5432, remotePort: 5432, connection: { host: 'x' } },
  },
});

export const misspeltRestartKey = defineConfig({
  // @ts-expect-error — `maxAttempt` is not a restart policy key
  defaults: { restartPolicy: { maxAttempt: 3 } },
  services: {},
});

export const preset = definePreset({
  name: '@acme/localport-preset',
  services: [{ name: 'redis', technology: 'ssh', localPort: 6379, remotePort: 6379, connection: { host: 'bastion' } }],
});

// A plugin's own technology, added to TechnologyConnections by declaration merging (docs/examples).
import '../../docs/examples/socat-technology.js';

export const pluginTechnology = defineConfig({
  services: { web: { technology: 'socat', localPort: 8080, remotePort: 80, connection: { host: 'web.internal' } } },
});

export const pluginTechnologyWrongType = defineConfig({
  // @ts-expect-error — the socat technology's `host` is a string
  services: { web: { technology: 'socat', localPort: 8080, remotePort: 80, connection: { host: 42 } } },
});

export const overridesAPresetService = defineConfig({
  extends: ['@acme/localport-preset'],
  services: { redis: { enabled: false }, postgres: { localPort: 15432, connection: { context: 'staging' } } },
});

export const overrideWithMisspeltKey = defineConfig({
  extends: ['@acme/localport-preset'],
  // @ts-expect-error — `enable` is not a key
  services: { redis: { enable: false } },
});
