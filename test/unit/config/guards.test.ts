import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { describeValue, originOf, registerCode } from '../../../core/config/code.js';
import { substituteEnv } from '../../../core/config/env.js';
import { checkConfigShape, MAX_CONFIG_VALUES } from '../../../core/config/guard.js';
import { loadRawConfig } from '../../../core/config/load.js';
import { resolveExtends } from '../../../core/config/presets.js';
import { ConfigError, PluginError } from '../../../core/errors.js';
import { Redactor } from '../../../core/redact.js';
import { aliasBombYaml } from '../../helpers/config-bombs.js';
import { makeHub, resolve } from '../../helpers/hub.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-guards-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function caught(fn: () => unknown): ConfigError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('did not throw');
}

async function caughtAsync(p: Promise<unknown>): Promise<ConfigError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return e as ConfigError;
  }
  throw new Error('did not throw');
}

describe('config shape guard', () => {
  // The loaders (cosmiconfig, js-yaml) are imported on first use; time the check, not the imports.
  beforeAll(async () => {
    writeFileSync(path.join(root, 'warm.yaml'), 'services: []\n');
    await loadRawConfig({ configPath: path.join(root, 'warm.yaml') });
  });

  it('rejects a YAML alias bomb (9 levels of 9 aliases under services) in well under a second, naming the file', async () => {
    const file = path.join(root, 'bomb.yaml');
    writeFileSync(file, aliasBombYaml());
    const t0 = Date.now();
    const e = await caughtAsync(loadRawConfig({ configPath: file }));
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(e.code).toBe('CONFIG_TOO_LARGE');
    expect(e.message).toBe(`${file}: services: the config expands to more than ${MAX_CONFIG_VALUES} values (YAML anchors/aliases that nest?); write it out without nested aliases`);
  });

  it('rejects the same bomb in a preset reached through extends, naming the preset file', async () => {
    const preset = path.join(root, 'bomb-preset.yaml');
    // 9^6 values: past the limit, yet small enough that a walk without the guard ends (and this test fails) in about a second.
    writeFileSync(preset, aliasBombYaml(6, 9, 'defaults'));
    const t0 = Date.now();
    const e = await caughtAsync(resolveExtends({ extends: './bomb-preset.yaml', services: [] }, path.join(root, 'localport.yaml'), root));
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(e.message).toContain(`${preset}: defaults: the config expands to more than`);
  });

  it('names the key at which a TypeScript config refers to itself', () => {
    const c: Record<string, unknown> = { services: { web: { technology: 'ssh' } } };
    (c.services as { web: Record<string, unknown> }).web.self = c;
    const e = caught(() => checkConfigShape(c, '/p/localport.config.ts'));
    expect(e.code).toBe('CONFIG_CYCLE');
    expect(e.message).toBe('/p/localport.config.ts: services.web.self: the config refers to itself here (an object that contains itself); a config must be a tree');
  });

  it('accepts shared (not cyclic) nodes, a list of plugin objects holding anything, and a normal config', () => {
    const shared = { interval: 1 };
    const plugin = { name: 'p', apply() {}, options: {} as Record<string, unknown> };
    const config = { services: [{ name: 'a', health_check: shared }, { name: 'b', health_check: shared }], plugins: [[plugin], false] };
    plugin.options.config = config; // a plugin may hold a reference to the config it is part of
    expect(() => checkConfigShape(config, 'x.ts')).not.toThrow();
  });

  it('rejects a plugin list that contains itself (it would be flattened forever)', () => {
    const plugins: unknown[] = [];
    plugins.push(plugins);
    expect(caught(() => checkConfigShape({ services: [], plugins }, 'x.ts')).message).toBe('x.ts: plugins[0]: the config refers to itself here (an object that contains itself); a config must be a tree');
  });

  it('names the key whose getter throws, and an absurd nesting depth', () => {
    const withGetter = {
      services: {
        get web(): unknown {
          throw new Error('boom from getter');
        },
      },
    };
    expect(caught(() => checkConfigShape(withGetter, 'g.ts')).message).toBe('g.ts: services.web: reading this key threw: boom from getter');
    let deep: unknown = 'leaf';
    for (let i = 0; i < 150; i++) deep = [deep];
    expect(caught(() => checkConfigShape({ services: deep }, 'd.yaml')).message).toMatch(/^d\.yaml: services(\[0\])+: the config nests deeper than 100 levels$/);
  });
});

describe('the copy the guard returns', () => {
  it('reads each getter once: what comes after walks the copy (a getter that throws on its second read)', () => {
    let reads = 0;
    const service = {
      name: 'web',
      get localPort() {
        if (reads++) throw new Error('second read');
        return 45102;
      },
    };
    const copy = checkConfigShape({ services: [service] }, '/x/localport.config.mjs') as { services: { localPort: number }[] };
    expect(copy.services[0].localPort).toBe(45102);
    expect(copy.services[0].localPort).toBe(45102);
    expect(reads).toBe(1);
  });

  it('keeps shared nodes shared, plugin objects as they are, and a `__proto__` key as data', () => {
    const shared = { host: 'bastion' };
    const plugin = { name: 'p', apply() {} };
    const raw = JSON.parse('{"services": {"__proto__": {"technology": "exec"}}}') as Record<string, unknown>;
    Object.assign(raw, { defaults: { a: shared, b: shared }, plugins: [plugin] });
    const copy = checkConfigShape(raw, '/x/localport.json') as { services: object; defaults: { a: object; b: object }; plugins: unknown[] };
    expect(copy.defaults.a).toBe(copy.defaults.b);
    expect(copy.defaults.a).not.toBe(shared);
    expect(copy.plugins[0]).toBe(plugin);
    expect(Object.keys(copy.services)).toEqual(['__proto__']);
    expect(Object.getPrototypeOf(copy.services)).toBe(Object.prototype);
  });

  it('counts text as well as values: one long string behind many aliases is too large', () => {
    const long = 'x'.repeat(1024 * 1024);
    const e = caught(() => checkConfigShape({ services: [{ name: 'web', tags: Array.from({ length: 20 }, () => long) }] }, '/x/localport.yaml'));
    expect(e.code).toBe('CONFIG_TOO_LARGE');
    expect(e.message).toBe('/x/localport.yaml: services: the config expands to more than 16 MiB of text (a long string repeated through YAML aliases?); write it out without them');
  });

  it('refuses a BigInt, naming the key', () => {
    const e = caught(() => checkConfigShape({ services: [{ name: 'web', localPort: 5432n }] }, '/x/localport.config.mjs'));
    expect(e.message).toBe('/x/localport.config.mjs: services[0] (web).localPort: is a BigInt (5432n); write a plain number');
  });
});

describe('${VAR} substitution of shared nodes', () => {
  it('substitutes a node shared through aliases once, and shares it in the result instead of copying it per reference', () => {
    // 2^20 paths through 20 shared levels: a copying walk takes seconds and copies a million objects.
    let node: unknown = { password: '${PW}' };
    for (let i = 0; i < 20; i++) node = [node, node];
    const t0 = Date.now();
    const out = substituteEnv({ services: node }, { PW: 'hunter22' }, new Redactor()) as { services: unknown[] };
    expect(Date.now() - t0).toBeLessThan(100);
    expect(out.services[0]).toBe(out.services[1]);
    let leaf: unknown = out.services;
    while (Array.isArray(leaf)) leaf = leaf[1];
    expect(leaf).toEqual({ password: 'hunter22' });
  });

  it('ends on a cycle instead of overflowing the stack', () => {
    const c: Record<string, unknown> = { a: '${X:1}' };
    c.self = c;
    const out = substituteEnv(c, {}, new Redactor()) as Record<string, unknown>;
    expect(out.a).toBe('1');
    expect(out.self).toBe(out);
  });
});

describe('describing what config code threw', () => {
  it('shows an Error by its first line and anything else as the value', () => {
    const cases: [unknown, string][] = [
      ['just a string', "'just a string'"],
      [{}, '{}'],
      [undefined, 'undefined'],
      [42, '42'],
      [new Error('first line\nsecond'), 'first line'],
      [{ toJSON: () => { throw new Error('no'); } }, '[object Object]'],
    ];
    for (const [value, text] of cases) expect(describeValue(value)).toBe(text);
  });
});

describe('attributing an uncaught exception to the code it came from', () => {
  it('finds the config, preset or plugin file in the stack, and takes other stacks for LocalPort bugs', () => {
    const dir = mkdtempSync(path.join(root, 'proj-'));
    const config = path.join(dir, 'localport.config.ts');
    const pkgEntry = path.join(dir, 'node_modules', '@acme', 'lp-plugin', 'dist', 'index.js');
    registerCode(config, `config ${config}`);
    registerCode(pkgEntry, `plugin '@acme/lp-plugin' (${pkgEntry})`);
    const withStack = (...files: string[]) => Object.assign(new Error('boom'), { stack: `Error: boom\n${files.map((f) => `    at Timeout._onTimeout (${f}:3:11)`).join('\n')}\n    at listOnTimeout (node:internal/timers:581:17)` });
    expect(originOf(withStack(config))).toBe(`config ${config}`);
    // A helper next to the config counts as the config's; a file elsewhere in the plugin package as the plugin's.
    expect(originOf(withStack(path.join(dir, 'lib', 'helper.ts')))).toBe(`config ${config}`);
    expect(originOf(withStack(`file://${path.join(dir, 'node_modules', '@acme', 'lp-plugin', 'dist', 'timer.js')}`))).toBe(`plugin '@acme/lp-plugin' (${pkgEntry})`);
    // The innermost frame of config code wins over LocalPort's frames around it.
    expect(originOf(withStack('/usr/lib/node_modules/localport/dist/core/LocalPort.js', config))).toBe(`config ${config}`);
    // A dependency installed in the project is not the config's code.
    expect(originOf(withStack(path.join(dir, 'node_modules', 'pg', 'lib', 'client.js')))).toBeUndefined();
    expect(originOf(withStack('/usr/lib/node_modules/localport/dist/core/LocalPort.js'))).toBeUndefined();
    // A file that is neither LocalPort's nor a package's can only be code the config imported (a shared
    // plugin in a parent folder): the config's, not LocalPort's bug.
    expect(originOf(withStack('/somewhere/else.js'))).toBe('code the config imports (/somewhere/else.js)');
  });
});

describe('configResolved', () => {
  const def = { name: 'a', technology: 'ssh', local_port: 1, remote_port: 2, connection: { host: 'h' } };

  it.each([
    ['a string', () => 'not a config', "'not a config'"],
    ['null', () => null, 'null'],
    ['an object without services', () => ({ version: '1' }), '{"version":"1"}'],
  ])('a tap that returns %s fails naming the plugin and what it returned', async (_what, fn, shown) => {
    const hub = await makeHub([{ name: 'junk-plugin', apply: (api) => api.hooks.configResolved.tap('junk-plugin', fn as never) }]);
    const { config } = await resolve({ services: [def] });
    const error = await hub.hooks.configResolved.promise(config).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(PluginError);
    expect((error as Error).message).toBe(`plugin junk-plugin failed in configResolved: it returned ${shown} instead of the config; return the config it was given (changed or not)`);
  });

  it('a tap that returns a config containing itself fails naming the plugin and the key', async () => {
    const hub = await makeHub([
      {
        name: 'loop-plugin',
        apply: (api) =>
          api.hooks.configResolved.tap('loop-plugin', (c) => {
            const out = { ...c, services: c.services.map((s) => ({ ...s })) };
            (out.services[0] as unknown as Record<string, unknown>).self = out;
            return out;
          }),
      },
    ]);
    const { config } = await resolve({ services: [def] });
    await expect(hub.hooks.configResolved.promise(config)).rejects.toThrow(
      'plugin loop-plugin failed in configResolved: it returned a config that cannot be used: services[0] (a).self: the config refers to itself here (an object that contains itself); a config must be a tree',
    );
  });

  it('lets a tap return nothing (the config passes on) or a changed config', async () => {
    const hub = await makeHub([
      { name: 'observer', apply: (api) => api.hooks.configResolved.tap('observer', () => undefined as never) },
      { name: 'changer', apply: (api) => api.hooks.configResolved.tapPromise('changer', async (c) => ({ ...c, version: '2' })) },
    ]);
    const { config } = await resolve({ services: [def] });
    expect((await hub.hooks.configResolved.promise(config)).version).toBe('2');
  });
});
