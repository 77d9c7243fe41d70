import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { builtins } from '../../../app/builtins.js';
import { configObject, definePlugin } from '../../../core/index.js';
import { resolveConfig } from '../../../core/config/resolve.js';
import { ConfigError } from '../../../core/errors.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-resolve-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A third-party technology whose `labels` map is user data. */
const labelled = definePlugin({
  name: 'test:labelled',
  apply(api) {
    api.registerTechnology({
      type: 'labelled',
      connectionSchema: configObject({ labels: z.record(z.string(), z.string()).default({}), someKey: z.string().optional() }),
      freeFormKeys: ['labels'],
      describeTarget: () => 'labelled',
      createForward: () => ({ command: process.execPath, args: [], ready: { output: /^READY$/ } }),
    });
  },
});

function dir(files: Record<string, string>): string {
  const d = mkdtempSync(path.join(root, 't-'));
  for (const [name, text] of Object.entries(files)) writeFileSync(path.join(d, name), text);
  return d;
}

describe('resolveConfig', () => {
  it('keeps the keys a plugin declares free-form as written when presets merge, and converts the rest', async () => {
    const d = dir({ 'team.yaml': 'services:\n  - name: a\n    technology: labelled\n    local_port: 7001\n    remote_port: 1\n    connection:\n      some_key: x\n      labels: { team_name: core }\n' });
    const raw = { extends: './team.yaml', services: [{ name: 'a', connection: { labels: { cost_center: '42' } } }] };
    const { config } = await resolveConfig(raw, { ...builtins(), plugins: [builtins().plugins, labelled], file: path.join(d, 'localport.yaml') });
    expect(config.services[0].connection).toEqual({ someKey: 'x', labels: { team_name: 'core', cost_center: '42' } });
  });

  it("keeps exec's `vars` as written through a preset, so `{snake_name}` placeholders still match", async () => {
    const d = dir({ 'base.yaml': 'services:\n  - name: e\n    technology: exec\n    local_port: 7002\n    remote_port: 1\n    connection: { command: /bin/true, args: ["{my_zone}"], vars: { my_zone: eu } }\n' });
    const { config } = await resolveConfig({ extends: './base.yaml', services: [] }, { ...builtins(), file: path.join(d, 'localport.yaml') });
    expect((config.services[0].connection as { vars: unknown }).vars).toEqual({ my_zone: 'eu' });
  });

  it('gives a service without a check the default the composition root names, and says so when none is named', async () => {
    const raw = { services: [{ name: 'a', technology: 'exec', local_port: 7003, remote_port: 1, connection: { command: '/bin/true' } }] };
    const { config } = await resolveConfig(raw, { ...builtins(), file: 'x.yaml' });
    expect(config.services[0].healthCheck.type).toBe('tcp');
    const e = await resolveConfig(raw, { plugins: builtins().plugins, file: 'x.yaml' }).catch((err) => err);
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toMatch(/services\[0\] \(a\)\.health_check\.type: is required: no default health check is set; registered: http, kafka, postgres, tcp/);
  });

  it('applies a preset\'s plugins and runs configResolved taps; on a reload (an existing hub) it applies none again', async () => {
    const d = dir({
      'plug.mjs': "export default (o) => ({ name: 'test:renamer', apply(api) { api.hooks.configResolved.tap('test:renamer', (c) => ({ ...c, services: c.services.map((s) => ({ ...s, localPort: s.localPort + o.add })) })); } });\n",
      'preset.mjs': "export default { plugins: [['./plug.mjs', { add: 1 }]], services: { p: { technology: 'exec', localPort: 7010, remotePort: 1, connection: { command: '/bin/true' } } } };\n",
    });
    const file = path.join(d, 'localport.yaml');
    const first = await resolveConfig({ extends: './preset.mjs', services: [] }, { ...builtins(), file });
    expect(first.hub.plugins).toContain('test:renamer');
    expect(first.config.services.map((s) => [s.name, s.localPort, s.source])).toEqual([['p', 7011, './preset.mjs']]);
    expect(first.presetFiles).toEqual([path.join(d, 'preset.mjs')]);
    const again = await resolveConfig({ extends: './preset.mjs', services: [] }, { file, hub: first.hub });
    expect(again.hub).toBe(first.hub);
    expect(again.config.services[0].localPort).toBe(7011);
  });
});

describe('lenient resolution: only what a missing variable breaks is tolerated', () => {
  const svc = (over: Record<string, unknown>) => ({ technology: 'tcp', local_port: 7101, remote_port: 1, connection: { host: '127.0.0.1' }, ...over });
  const lenient = (services: unknown[], env: NodeJS.ProcessEnv = {}) => resolveConfig({ services }, { ...builtins(), file: 'x.yaml', env, variables: 'lenient' });

  it('lists a service whose port is a missing variable, with its variables, technology and the ports it has', async () => {
    const { config } = await lenient([svc({ name: 'web' }), svc({ name: 'cache', local_port: '${CPORT}', remote_port: 6379, health_check: { type: 'http', config: { headers: { A: '${TOKEN}' } } } })]);
    expect(config.services.map((s) => s.name)).toEqual(['web']);
    expect(config.unresolved).toEqual([
      expect.objectContaining({ name: 'cache', variables: ['CPORT', 'TOKEN'], technology: 'tcp', remotePort: 6379, enabled: true }),
    ]);
    expect(config.unresolved![0].localPort).toBeUndefined();
    expect(config.unresolved![0].problems.map((p) => p.path)).toEqual(['services[1] (cache).local_port', 'services[1] (cache).health_check.config.headers.A']);
  });

  it('refuses an unrelated invalid field of such a service, as for any service (a reload then keeps what runs)', async () => {
    const e = await lenient([svc({ name: 'web' }), svc({ name: 'cache', local_port: '${CPORT}', remote_port: 'sixty' })]).catch((err) => err);
    expect(e).toBeInstanceOf(ConfigError);
    expect(e.message).toContain('services[1] (cache).remote_port: must be a port number (got "sixty")');
    expect(e.message).not.toContain('local_port');
  });

  it('still checks the parts the missing keys do not reach: connection, health check, unknown keys', async () => {
    const cases: [Record<string, unknown>, string][] = [
      [{ connection: { hots: 'x' } }, 'services[0] (cache).connection.hots: unknown key'],
      [{ health_check: { type: 'htp' } }, "services[0] (cache).health_check.type: unknown health check 'htp'"],
      [{ lokal_port: 1 }, 'services[0] (cache).lokal_port: unknown key'],
      [{ bogus: '${CPORT}' }, 'services[0] (cache).bogus: unknown key'],
    ];
    for (const [over, message] of cases) {
      const e = await lenient([svc({ name: 'cache', local_port: '${CPORT}', ...over })]).catch((err) => err);
      expect({ over, error: String(e?.message) }).toEqual({ over, error: expect.stringContaining(message) });
    }
  });

  it('tolerates a missing variable inside a key (a host), and an unknown technology that is one', async () => {
    const { config } = await lenient([svc({ name: 'a', connection: { host: 'db-${ENV}.internal' } }), svc({ name: 'b', local_port: 7102, technology: '${TECH}' })]);
    expect(config.services.map((s) => s.name)).toEqual(['a']);
    expect(config.unresolved!.map((u) => [u.name, u.variables])).toEqual([
      ['a', ['ENV']],
      ['b', ['TECH']],
    ]);
    expect(config.unresolved![1].technology).toBeUndefined();
  });

  it('does the same for services keyed by name in camelCase (a TypeScript config)', async () => {
    const base = { technology: 'tcp', localPort: '${P}', connection: { host: '127.0.0.1' } };
    const ok = await resolveConfig({ services: { cache: { ...base, remotePort: 6379 } } }, { ...builtins(), file: 'x.ts', env: {}, variables: 'lenient' });
    expect(ok.config.unresolved).toEqual([expect.objectContaining({ name: 'cache', variables: ['P'], remotePort: 6379 })]);
    expect(ok.config.unresolved![0].problems[0].path).toBe('services.cache.localPort');
    const bad = await resolveConfig({ services: { cache: { ...base, remotePort: 'x' } } }, { ...builtins(), file: 'x.ts', env: {}, variables: 'lenient' }).catch((e) => e);
    expect(bad).toBeInstanceOf(ConfigError);
    expect(bad.message).toContain('services.cache.remotePort: must be a port number (got "x")');
    expect(bad.message).not.toContain('localPort');
  });

  it('is strict without lenient (config validate), and a set variable resolves as usual', async () => {
    await expect(resolveConfig({ services: [svc({ name: 'cache', local_port: '${CPORT}' })] }, { ...builtins(), file: 'x.yaml', env: {} })).rejects.toThrow(/CPORT is not set/);
    const { config } = await lenient([svc({ name: 'cache', local_port: '${CPORT}' })], { CPORT: '7103' });
    expect(config.services[0].localPort).toBe(7103);
    expect(config.unresolved).toBeUndefined();
  });
});

describe('numbers from the environment are not secrets', () => {
  const svc = (over: Record<string, unknown>) => ({ technology: 'tcp', local_port: 7201, remote_port: 1, connection: { host: '127.0.0.1' }, ...over });

  it('a value that went only into number or boolean fields is released; one that also went into a string stays a secret', async () => {
    const env = { CACHE_PORT: '22211', PGPW: 'pw-5f1e2d3c', PIN: '4711', ON: 'true', GRACE: '2', SSH_PORT: '2222' };
    const raw = {
      defaults: { health_check: { startup_grace: '${GRACE}' } },
      services: [
        svc({ name: 'cache', local_port: '${CACHE_PORT}', enabled: '${ON}' }),
        svc({ name: 'other', local_port: 7202, remote_port: 22211, health_check: { type: 'postgres', config: { password: '${PGPW}' } } }),
        svc({ name: 'pin', local_port: '${PIN}', health_check: { type: 'postgres', config: { password: '${PIN}' } } }),
        { name: 'ssh', technology: 'ssh', local_port: 7203, remote_port: 5432, connection: { host: 'bastion', port: '${SSH_PORT}' } },
      ],
    };
    const { hub, config } = await resolveConfig(raw, { ...builtins(), file: 'x.yaml', env });
    const r = hub.redactor;
    expect(['22211', 'true', '2', '2222'].filter((v) => r.isSecret(v))).toEqual([]);
    expect(r.isSecret('pw-5f1e2d3c')).toBe(true);
    expect(r.isSecret('4711')).toBe(true);
    expect(r.data(config.services[1])).toMatchObject({ remotePort: 22211, healthCheck: { config: { password: '***' } } });
    expect(r.text('cache on 22211, other to db:22211 with pw-5f1e2d3c')).toBe('cache on 22211, other to db:22211 with ***');
  });

  it('a value the redactor knew as a secret before (an earlier load put it in a string) stays one', async () => {
    const { hub } = await resolveConfig({ services: [svc({ name: 'a', health_check: { type: 'postgres', config: { password: '${P}' } } })] }, { ...builtins(), file: 'x.yaml', env: { P: '7204' } });
    await resolveConfig({ services: [svc({ name: 'a', local_port: '${P}' })] }, { file: 'x.yaml', env: { P: '7204' }, hub });
    expect(hub.redactor.isSecret('7204')).toBe(true);
  });

  it('a value in a service that did not resolve stays a secret', async () => {
    const { hub } = await resolveConfig({ services: [svc({ name: 'a', local_port: '${P}', remote_port: '${Q}' })] }, { ...builtins(), file: 'x.yaml', env: { P: '7205' }, variables: 'lenient' });
    expect(hub.redactor.isSecret('7205')).toBe(true);
  });
});
