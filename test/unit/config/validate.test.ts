import os from 'node:os';
import path from 'node:path';
import { readFileSync } from 'node:fs';
import { describe, expect, it } from '@jest/globals';
import jsYaml from 'js-yaml';
import { ConfigError } from '../../../core/errors.js';
import { resolve } from '../../helpers/hub.js';

const seed = jsYaml.load(readFileSync(new URL('../../fixtures/seed-localport.yaml', import.meta.url), 'utf8'));

async function problems(raw: unknown, env: NodeJS.ProcessEnv = {}): Promise<string[]> {
  try {
    await resolve(raw, env);
  } catch (e) {
    if (e instanceof ConfigError) return e.message.split('\n');
    throw e;
  }
  throw new Error('expected the config to be rejected');
}

const ssh = (over: Record<string, unknown> = {}) => ({ name: 'web', technology: 'ssh', local_port: 8080, remote_port: 80, connection: { host: 'bastion' }, ...over });

describe('config validation', () => {
  it('loads the original LocalPort sample unchanged, with defaults applied', async () => {
    const { config, hub } = await resolve(seed, { POSTGRES_PASSWORD: 'pw-from-env' });
    expect(config.services.map((s) => [s.name, s.technology, s.localPort, s.remotePort])).toEqual([
      ['postgres', 'kubectl', 5432, 5432],
      ['kafka', 'kubectl', 6092, 9092],
      ['redis', 'ssh', 6379, 6379],
    ]);
    const pg = config.services[0];
    expect(pg.connection).toMatchObject({ resourceType: 'service', resourceName: 'postgres', namespace: 'default', context: 'minikube' });
    expect(pg.healthCheck).toMatchObject({ type: 'postgres', interval: 30, timeout: 5, failureThreshold: 3, config: { password: 'pw-from-env' } });
    expect(pg.restartPolicy).toMatchObject({ enabled: true, maxAttempts: 5, backoffMultiplier: 2, initialDelay: 1, maxDelay: 300 });
    expect(pg.tags).toEqual(['database', 'essential']);
    // redis has no health_check of its own: defaults.health_check applies.
    expect(config.services[2].healthCheck.type).toBe('tcp');
    expect(config.services[2].connection).toMatchObject({ host: 'redis-server.example.com', user: 'deploy', keyFile: path.join(os.homedir(), '.ssh', 'id_rsa'), remoteHost: 'localhost' });
    expect(hub.redactor.isSecret('pw-from-env')).toBe(true);
  });

  it('accepts camelCase services keyed by name (the TypeScript form)', async () => {
    const { config } = await resolve({ services: { api: { technology: 'ssh', localPort: '9000', remotePort: 80, connection: { host: 'h', keyFile: '/k' } } } });
    expect(config.services[0]).toMatchObject({ name: 'api', localPort: 9000, connection: { keyFile: '/k' } });
    expect(config.services[0].healthCheck.type).toBe('tcp');
    expect(config.services[0].restartPolicy).toMatchObject({ maxAttempts: 0, enabled: true });
  });

  it('takes ui.port (the daemon\'s HTTP server) as a port, from ${VAR} too, and refuses anything else under ui', async () => {
    expect((await resolve({ ui: { port: '${UI_PORT}' }, services: [ssh()] }, { UI_PORT: '7070' })).config.ui).toEqual({ port: 7070 });
    expect((await resolve({ services: [ssh()] })).config.ui).toBeUndefined();
    expect(await problems({ ui: { port: 0, prot: 1 }, services: [ssh()] })).toEqual([
      expect.stringMatching(/ui\.port: must be between 1 and 65535 \(got 0\)$/),
      expect.stringMatching(/ui\.prot: unknown key; did you mean 'port'\? \(or remove it\)$/),
    ]);
    expect(await problems({ ui: 7070, services: [ssh()] })).toEqual([expect.stringMatching(/^.*ui: /)]);
  });

  it('names an unknown technology and lists the registered ones', async () => {
    expect(await problems({ services: [ssh({ technology: 'kubctl' })] })).toEqual([
      "test.yaml: services[0] (web).technology: unknown technology 'kubctl'; registered: exec, kubectl, ssh, tcp; did you mean 'kubectl'?",
    ]);
  });

  it('rejects port 70000 at its key path, in the spelling of the file', async () => {
    const p = await problems({ services: [ssh({ local_port: 70000 })] });
    expect(p).toEqual(['test.yaml: services[0] (web).local_port: must be between 1 and 65535 (got 70000)']);
  });

  it('rejects duplicate names and duplicate local ports', async () => {
    const p = await problems({ services: [ssh(), ssh({ local_port: 8081 }), ssh({ name: 'other' })] });
    expect(p).toContain("test.yaml: services[1] (web): duplicate service name 'web'; service names must be unique");
    expect(p).toContain("test.yaml: services[2] (other).local_port: local port 8080 is also used by service 'web'; give each service its own local port");
  });

  it('requires connection.host for ssh', async () => {
    expect(await problems({ services: [ssh({ connection: { user: 'x' } })] })).toEqual(['test.yaml: services[0] (web).connection.host: is required']);
  });

  it('reports every problem at once, one line each, and flags misspelt keys', async () => {
    const p = await problems({ services: [ssh({ lcoal_port: 1 }), ssh({ name: 'b', local_port: 0, remote_port: 'x' })] });
    expect(p).toEqual([
      'test.yaml: services[0] (web).lcoal_port: unknown key; did you mean \'local_port\'? (or remove it)',
      'test.yaml: services[1] (b).local_port: must be between 1 and 65535 (got 0)',
      'test.yaml: services[1] (b).remote_port: must be a port number (got "x")',
    ]);
  });

  it("suggests the key meant, inside a technology's connection and a check's config too, in the spelling used; or lists the few keys there", async () => {
    const p = await problems({
      services: [
        ssh({ connection: { host: 'h', remote_hots: 'x' }, health_check: { type: 'http', config: { expected_statuss: 200 } } }),
        ssh({ name: 'b', local_port: 2, connection: { host: 'h', keyFil: 'k' }, health_check: { type: 'kafka', config: { brokers: ['x:1'] } } }),
      ],
    });
    expect(p).toEqual([
      "test.yaml: services[0] (web).connection.remote_hots: unknown key; did you mean 'remote_host'? (or remove it)",
      "test.yaml: services[0] (web).health_check.config.expected_statuss: unknown key; did you mean 'expected_status'? (or remove it)",
      "test.yaml: services[1] (b).connection.keyFil: unknown key; did you mean 'keyFile'? (or remove it)",
      'test.yaml: services[1] (b).health_check.config.brokers: unknown key; remove it (the keys here: bootstrap_servers, client_id)',
    ]);
  });

  it('refuses ssh password auth with what to do instead', async () => {
    const [line] = await problems({ services: [ssh({ connection: { host: 'h', password: 'pw' } })] });
    expect(line).toMatch(/connection\.password: password authentication is not supported.*key_file or an ssh-agent key/);
  });

  it('rejects values that could turn into command-line flags', async () => {
    const p = await problems({
      services: [
        ssh({ connection: { host: '-oProxyCommand=sh' } }),
        { name: 'k', technology: 'kubectl', local_port: 1, remote_port: 1, connection: { resource_name: '--kubeconfig=/x', namespace: 'Bad NS' } },
      ],
    });
    expect(p).toHaveLength(3);
    expect(p[0]).toContain('services[0] (web).connection.host: must be a host name');
    expect(p[1]).toContain('services[1] (k).connection.resource_name: must be a Kubernetes resource name');
    expect(p[2]).toContain('services[1] (k).connection.namespace: must be a Kubernetes namespace name');
  });

  it('lists the registered health checks for an unknown type', async () => {
    const [line] = await problems({ services: [ssh({ health_check: { type: 'redis' } })] });
    expect(line).toBe("test.yaml: services[0] (web).health_check.type: unknown health check 'redis'; registered: http, kafka, postgres, tcp");
  });

  describe('absurd numbers', () => {
    const LIMIT = 'must be a number of seconds from 0 to 2147483.647 (about 24.8 days, the longest a timer can wait)';

    it.each([
      ['health_check.interval', { health_check: { type: 'tcp', interval: 1e300 } }, '1e+300'],
      ['health_check.timeout', { health_check: { type: 'tcp', timeout: Infinity } }, 'Infinity'],
      ['health_check.startup_grace', { health_check: { type: 'tcp', startup_grace: NaN } }, 'NaN'],
      ['restart_policy.initial_delay', { restart_policy: { initial_delay: 2147484 } }, '2147484'],
      ['restart_policy.max_delay', { restart_policy: { max_delay: '1e300' } }, '1e+300'],
      ['restart_policy.reset_after', { restart_policy: { reset_after: 30 * 86400 } }, '2592000'],
      ['connection.server_alive_interval', { connection: { host: 'h', server_alive_interval: 1e300 } }, '1e+300'],
      ['connection.connect_timeout', { connection: { host: 'h', connect_timeout: -Infinity } }, '-Infinity'],
    ])('refuses %s beyond what a timer can hold, with the key and the limit', async (key, over, got) => {
      const p = await problems({ services: [ssh(over)] });
      expect(p).toEqual([`test.yaml: services[0] (web).${key}: ${LIMIT} (got ${got})`]);
    });

    it('reads durations as people write them: 500ms, 30s, 2m, 1h, or plain seconds', async () => {
      const { config } = await resolve({
        services: [ssh({ health_check: { type: 'tcp', interval: '2m', timeout: '500ms', startup_grace: '1.5' }, restart_policy: { max_delay: '1h', initial_delay: '30s' } })],
      });
      const s = config.services[0];
      expect([s.healthCheck.interval, s.healthCheck.timeout, s.healthCheck.startupGrace, s.restartPolicy.maxDelay, s.restartPolicy.initialDelay]).toEqual([120, 0.5, 1.5, 3600, 30]);
      expect(await problems({ services: [ssh({ health_check: { type: 'tcp', interval: '2 weeks' } })] })).toEqual([
        'test.yaml: services[0] (web).health_check.interval: must be a number of seconds, or a duration such as 500ms, 30s or 2m',
      ]);
      expect(await problems({ services: [ssh({ restart_policy: { max_delay: '600h' } })] })).toEqual([`test.yaml: services[0] (web).restart_policy.max_delay: ${LIMIT} (got 2160000)`]);
    });

    it('accepts the longest duration a timer holds', async () => {
      const { config } = await resolve({ services: [ssh({ health_check: { type: 'tcp', interval: 2147483.647 }, restart_policy: { max_delay: 2147483 } })] });
      expect(config.services[0].healthCheck.interval).toBe(2147483.647);
    });

    it('bounds counts and factors too', async () => {
      const p = await problems({
        services: [ssh({ health_check: { type: 'tcp', failure_threshold: 1e300 }, restart_policy: { max_attempts: Infinity, backoff_multiplier: 1e300 }, connection: { host: 'h', server_alive_count_max: 1e7 } })],
      });
      expect(p).toEqual([
        'test.yaml: services[0] (web).health_check.failure_threshold: must be a whole number from 0 to 1000000 (got 1e+300)',
        'test.yaml: services[0] (web).restart_policy.max_attempts: must be a whole number from 0 to 1000000 (got Infinity)',
        'test.yaml: services[0] (web).restart_policy.backoff_multiplier: must be at most 100',
      ]);
      expect(await problems({ services: [ssh({ connection: { host: 'h', server_alive_count_max: 1e7 } })] })).toEqual([
        'test.yaml: services[0] (web).connection.server_alive_count_max: must be a whole number from 0 to 1000000 (got 10000000)',
      ]);
    });

    it('asks ssh durations in whole seconds, as ssh refuses fractions', async () => {
      expect(await problems({ services: [ssh({ connection: { host: 'h', connect_timeout: 0.5 } })] })).toEqual([
        'test.yaml: services[0] (web).connection.connect_timeout: must be a whole number of seconds (ssh takes no fractions)',
      ]);
    });
  });

  describe('service names', () => {
    it('limits a name to 63 characters, and an error about a huge name stays one short line', async () => {
      const name = 'n'.repeat(10_000);
      const p = await problems({ services: [ssh({ name }), ssh({ name, local_port: 8081 })] });
      expect(p[0]).toMatch(/^test\.yaml: services\[0\] \(n{63}… \(10000 characters\)\)\.name: must be at most 63 characters \(got 10000\): a name becomes a log file name/);
      for (const line of p) expect(line.length).toBeLessThan(300);
      const { config } = await resolve({ services: [ssh({ name: 'n'.repeat(63) })] });
      expect(config.services[0].name).toHaveLength(63);
    });
  });
});
