import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { mergeLayers, resolveEntry, resolveExtends } from '../../../core/config/presets.js';
import { ConfigError } from '../../../core/errors.js';
import { freeFormKeys } from '../../../core/config/keys.js';
import { makeHub } from '../../helpers/hub.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-presets-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function tree(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(root, 't-'));
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return dir;
}

describe('merge rules', () => {
  const plugin = (name: string) => ({ name, apply() {} });

  it('keeps the local file\'s ui (the daemon\'s HTTP server) through extends', () => {
    const { config } = mergeLayers([
      { source: '@acme/base', config: { services: [] } },
      { source: 'local', config: { ui: { port: 7070 }, services: [] } },
    ]);
    expect(config.ui).toEqual({ port: 7070 });
    expect(mergeLayers([{ source: 'local', config: { services: [] } }]).config).not.toHaveProperty('ui');
  });

  it('merges services by name (later wins per key), defaults deeply, scalars replace, plugins concatenate', () => {
    const { config, sources } = mergeLayers([
      {
        source: '@acme/base',
        config: {
          version: '1.0',
          defaults: { health_check: { interval: 30, timeout: 5 }, restart_policy: { max_attempts: 5 } },
          services: [
            { name: 'db', technology: 'ssh', local_port: 5432, remote_port: 5432, connection: { host: 'bastion', user: 'ops' }, tags: ['a', 'b'] },
            { name: 'cache', technology: 'ssh', local_port: 6379, remote_port: 6379, connection: { host: 'bastion' } },
          ],
          plugins: [plugin('x')],
        },
      },
      { source: '@acme/extra', config: { services: { queue: { technology: 'ssh', localPort: 9092, remotePort: 9092, connection: { host: 'q' } } }, plugins: [plugin('y')] } },
      {
        source: 'local',
        config: {
          version: '2.0',
          defaults: { healthCheck: { interval: 10 } },
          services: [
            { name: 'db', local_port: 15432, connection: { user: 'me' }, tags: ['mine'] },
            { name: 'cache', enabled: false },
            { name: 'api', technology: 'ssh', local_port: 8080, remote_port: 80, connection: { host: 'api' } },
          ],
          plugins: [plugin('x')],
        },
      },
    ]);
    expect(config.version).toBe('2.0');
    expect(config.defaults).toEqual({ healthCheck: { interval: 10, timeout: 5 }, restartPolicy: { maxAttempts: 5 } });
    const services = config.services as Record<string, unknown>[];
    expect(services.map((s) => s.name)).toEqual(['db', 'cache', 'queue', 'api']);
    expect(services[0]).toEqual({ name: 'db', technology: 'ssh', localPort: 15432, remotePort: 5432, connection: { host: 'bastion', user: 'me' }, tags: ['mine'] });
    expect(services[1].enabled).toBe(false);
    expect((config.plugins as { name: string }[]).map((p) => p.name)).toEqual(['x', 'y', 'x']);
    expect(Object.fromEntries(sources)).toEqual({ db: '@acme/base + local', cache: '@acme/base + local', queue: '@acme/extra', api: 'local' });
  });

  it('keeps free-form maps (ssh options, headers, env) as written', async () => {
    // The built-in plugins declare them (ssh `options`, http `headers`, exec `env`): core names none.
    const freeForm = freeFormKeys(await makeHub());
    const { config } = mergeLayers([{ source: 'local', config: { services: [{ name: 'a', connection: { options: { Server_Alive: 1 } }, health_check: { config: { headers: { x_token: 't' } } } }] } }], freeForm);
    const s = (config.services as Record<string, Record<string, Record<string, unknown>>>[])[0];
    expect(s.connection.options).toEqual({ Server_Alive: 1 });
    expect((s.healthCheck.config as Record<string, unknown>).headers).toEqual({ x_token: 't' });
  });
});

describe('finding presets', () => {
  const from = (dir: string) => path.join(dir, 'localport.yaml');
  const kind = (fn: () => unknown) => {
    try {
      fn();
    } catch (e) {
      return [(e as ConfigError).code, (e as Error).message];
    }
    return ['none', ''];
  };

  it('resolves a package from the config directory first, honouring exports, then main', () => {
    const dir = tree({
      'node_modules/@acme/p/package.json': JSON.stringify({ name: '@acme/p', exports: { '.': { import: './esm/index.mjs', require: './cjs/index.cjs' } } }),
      'node_modules/@acme/p/esm/index.mjs': 'export default {}',
      'node_modules/q/package.json': JSON.stringify({ name: 'q', main: 'lib/main' }),
      'node_modules/q/lib/main.js': 'module.exports = {}',
    });
    expect(resolveEntry('@acme/p', 'preset', from(dir))).toBe(path.join(dir, 'node_modules/@acme/p/esm/index.mjs'));
    expect(resolveEntry('q', 'preset', from(dir))).toBe(path.join(dir, 'node_modules/q/lib/main.js'));
  });

  it("resolves a package's subpath exports, as import would (jiti's resolver)", () => {
    const dir = tree({
      'node_modules/@acme/presets/package.json': JSON.stringify({ name: '@acme/presets', exports: { '.': './index.mjs', './web': { import: './web/index.mjs', default: './web/index.cjs' } } }),
      'node_modules/@acme/presets/index.mjs': 'export default {}',
      'node_modules/@acme/presets/web/index.mjs': 'export default {}',
    });
    expect(resolveEntry('@acme/presets/web', 'preset', from(dir))).toBe(path.join(dir, 'node_modules/@acme/presets/web/index.mjs'));
  });

  it('falls back to the working directory', () => {
    const cwd = tree({ 'node_modules/r/package.json': '{"name":"r"}', 'node_modules/r/index.js': 'module.exports = {}' });
    const elsewhere = tree({ 'localport.yaml': '' });
    expect(resolveEntry('r', 'preset', from(elsewhere), cwd)).toBe(path.join(cwd, 'node_modules/r/index.js'));
  });

  it('tells not found from no entry point', () => {
    const dir = tree({ 'node_modules/broken/package.json': JSON.stringify({ name: 'broken', main: 'dist/index.js' }) });
    const [c1, m1] = kind(() => resolveEntry('@acme/nope', 'preset', from(dir), dir));
    expect(c1).toBe('PRESET_NOT_FOUND');
    expect(m1).toContain(`${from(dir)}: extends: preset '@acme/nope': package not found`);
    const [c2, m2] = kind(() => resolveEntry('broken', 'preset', from(dir), dir));
    expect(c2).toBe('PRESET_NO_ENTRY');
    expect(m2).toContain("preset 'broken': the package has no entry point");
    const [c3] = kind(() => resolveEntry('./missing.js', 'preset', from(dir), dir));
    expect(c3).toBe('PRESET_NOT_FOUND');
  });

  it('tells an invalid shape and a missing dependency of the preset apart', async () => {
    const dir = tree({
      'localport.yaml': '',
      'bad-shape.mjs': 'export default { services: [], colour: "red" }',
      'not-object.mjs': 'export default 42',
      'needs-dep.mjs': 'import "left-pad-that-is-not-installed"; export default {}',
    });
    const codeOf = async (spec: string) => {
      try {
        await resolveExtends({ extends: [spec] }, from(dir), dir);
        return ['none', ''];
      } catch (e) {
        return [(e as ConfigError).code, (e as Error).message];
      }
    };
    const [c1, m1] = await codeOf('./bad-shape.mjs');
    expect(c1).toBe('PRESET_INVALID');
    expect(m1).toContain("preset './bad-shape.mjs': unknown key 'colour'");
    expect((await codeOf('./not-object.mjs'))[0]).toBe('PRESET_INVALID');
    const [c3, m3] = await codeOf('./needs-dep.mjs');
    expect(c3).toBe('PRESET_MISSING_DEPENDENCY');
    expect(m3).toContain("preset './needs-dep.mjs': it needs 'left-pad-that-is-not-installed', which is not installed");
  });

  it('loads presets written as YAML or JSON files, and reports their syntax errors', async () => {
    const dir = tree({
      'localport.yaml': '',
      'team.yaml': 'services:\n  - name: y\n    technology: ssh\n    local_port: 1\n    remote_port: 1\n    connection: { host: yaml }\n',
      'more.json': JSON.stringify({ services: { j: { technology: 'ssh', localPort: 2, remotePort: 2, connection: { host: 'json' } } } }),
      'broken.yaml': 'services: [\n',
    });
    const r = await resolveExtends({ extends: ['./team.yaml', './more.json'] }, from(dir), dir);
    expect((r.raw.services as { name: string }[]).map((s) => s.name)).toEqual(['y', 'j']);
    await expect(resolveExtends({ extends: ['./broken.yaml'] }, from(dir), dir)).rejects.toThrow(/preset '.\/broken\.yaml': cannot parse .*broken\.yaml/);
  });

  it('applies nested presets before the preset that extends them, and the local file last', async () => {
    const dir = tree({
      'localport.yaml': '',
      'base.mjs': 'export default { name: "base", services: { a: { technology: "ssh", localPort: 1, remotePort: 1, connection: { host: "base" } } } }',
      'team.mjs': 'export default { name: "team", extends: ["./base.mjs"], services: { a: { connection: { host: "team" } } } }',
    });
    const r = await resolveExtends({ extends: './team.mjs', services: { b: { technology: 'ssh', localPort: 2, remotePort: 2, connection: { host: 'b' } } } }, from(dir), dir);
    const services = r.raw.services as { name: string; connection: { host: string } }[];
    expect(services.map((s) => [s.name, s.connection.host])).toEqual([
      ['a', 'team'],
      ['b', 'b'],
    ]);
    expect(Object.fromEntries(r.sources!)).toEqual({ a: 'base + team', b: 'local' });
    expect(r.files).toEqual([path.join(dir, 'team.mjs'), path.join(dir, 'base.mjs')]);
  });

  it('refuses a config that extends itself, and a cycle of presets, naming the files', async () => {
    const dir = tree({ 'localport.yaml': 'extends: ./localport.yaml\nservices: []\n', 'a.yaml': 'extends: ./b.yaml\n', 'b.yaml': 'extends: [./c.yaml, ./a.yaml]\n', 'c.yaml': 'services: []\n' });
    const self = await resolveExtends({ extends: './localport.yaml', services: [] }, from(dir), dir).catch((e) => e);
    expect(self).toBeInstanceOf(ConfigError);
    expect(self.message).toBe(`${from(dir)}: extends: preset './localport.yaml' is this file itself: a config cannot extend itself`);
    expect(self.code).toBe('PRESET_CYCLE');

    const cycle = await resolveExtends({ extends: './a.yaml', services: [] }, from(dir), dir).catch((e) => e);
    expect(cycle).toBeInstanceOf(ConfigError);
    const [a, b] = [path.join(dir, 'a.yaml'), path.join(dir, 'b.yaml')];
    expect(cycle.message).toBe(`${b}: extends: preset './a.yaml' makes a cycle: ${a} → ${b} → ${a}`);
  });

  it('still merges a preset reached twice without a cycle (a diamond) once', async () => {
    const dir = tree({
      'base.yaml': 'services:\n  - { name: a, technology: ssh, local_port: 1, remote_port: 1, connection: { host: base } }\n',
      'left.yaml': 'extends: ./base.yaml\n',
      'right.yaml': 'extends: ./base.yaml\n',
    });
    const r = await resolveExtends({ extends: ['./left.yaml', './right.yaml'], services: [] }, from(dir), dir);
    expect(r.files).toEqual([path.join(dir, 'left.yaml'), path.join(dir, 'base.yaml'), path.join(dir, 'right.yaml')]);
  });
});
