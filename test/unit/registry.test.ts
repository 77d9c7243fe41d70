import { describe, expect, it } from '@jest/globals';
import { LocalPort } from '../../core/LocalPort.js';
import { Registry } from '../../core/registry.js';
import { definePlugin } from '../../core/index.js';
import { PluginError, ServiceFailure } from '../../core/errors.js';
import { z } from 'zod';

describe('Registry', () => {
  it('refuses a duplicate type, naming both plugins', () => {
    const r = new Registry<number>('technology');
    r.register('ssh', 1, 'localport:ssh');
    expect(() => r.register('ssh', 2, 'acme:ssh')).toThrow("technology 'ssh' is registered twice: by plugin localport:ssh and by plugin acme:ssh");
    expect(r.get('ssh')).toBe(1);
  });

  it('lists the registered types for an unknown one', () => {
    const r = new Registry<number>('technology');
    r.register('ssh', 1, 'p');
    r.register('kubectl', 2, 'p');
    expect(() => r.get('kubctl')).toThrow("unknown technology 'kubctl'; registered: kubectl, ssh");
  });

  it('suggests the closest registered type, and nothing when none is close', () => {
    const r = new Registry<number>('health check');
    for (const t of ['http', 'kafka', 'postgres', 'tcp']) r.register(t, 1, 'p');
    expect(r.unknownMessage('postgress')).toBe("unknown health check 'postgress'; registered: http, kafka, postgres, tcp; did you mean 'postgres'?");
    expect(r.unknownMessage('redis')).toBe("unknown health check 'redis'; registered: http, kafka, postgres, tcp");
  });
});

describe('LocalPort plugins', () => {
  const tech = (name: string, type: string) =>
    definePlugin({
      name,
      apply(api) {
        api.registerTechnology({ type, connectionSchema: z.object({}), describeTarget: () => '', createForward: () => ({ command: 'true', args: [], ready: { port: true } }) });
      },
    });

  it('applies nested plugin lists, skipping false, and the same plugin once', async () => {
    const hub = new LocalPort();
    const a = tech('a', 'ta');
    await hub.use([[a, false, [tech('b', 'tb')]], a, null]);
    expect(hub.plugins).toEqual(['a', 'b']);
    expect(hub.technologies.types()).toEqual(['ta', 'tb']);
  });

  it('refuses two plugins of one name with different options', async () => {
    const hub = new LocalPort();
    await expect(hub.use([{ ...tech('x', 't1'), options: { a: 1 } }, { ...tech('x', 't2'), options: { a: 2 } }])).rejects.toThrow(
      "plugin 'x' is listed twice with different options",
    );
  });

  it('wraps an exception thrown in apply with the plugin name', async () => {
    const hub = new LocalPort();
    await expect(hub.use([definePlugin({ name: 'boom', apply() { throw new Error('kaput'); } })])).rejects.toThrow('plugin boom failed in apply: kaput');
  });

  it('refuses an incomplete technology, health check or formatter when it registers, naming the plugin and what is missing', async () => {
    const register = async (apply: (api: Parameters<Parameters<typeof definePlugin>[0]['apply']>[0]) => void) =>
      new LocalPort().use(definePlugin({ name: 'acme', apply })).then(() => undefined, (e: PluginError) => e);
    const tech = await register((api) => api.registerTechnology({ type: 'acme', connectionSchema: undefined as never, describeTarget: () => '', createForward: () => ({ command: 'x', args: [], ready: { port: true } }) }));
    expect(tech).toMatchObject({ code: 'PLUGIN_CONTRACT', plugin: 'acme', bug: false });
    expect(tech!.message).toBe("plugin acme failed in apply: the technology 'acme' it registers is incomplete: `connectionSchema` must be a zod schema (z from localport)");
    const check = await register((api) => api.registerHealthCheck({ type: 'banner', configSchema: z.object({}), check: undefined as never }));
    expect(check!.message).toContain("the health check 'banner' it registers is incomplete: `check` must be a function");
    const fmt = await register((api) => api.registerFormatter({ type: '', render: () => '' }));
    expect(fmt!.message).toContain('`type` must be a non-empty string');
  });

  it('gives plugins only the tap side of hooks', async () => {
    const hub = new LocalPort();
    let seen: Record<string, unknown> | undefined;
    await hub.use([definePlugin({ name: 'peek', apply(api) { seen = api.hooks.beforeStart as unknown as Record<string, unknown>; } })]);
    expect(typeof seen!.tapPromise).toBe('function');
    expect(seen!.promise).toBeUndefined();
    expect(seen!.callAsync).toBeUndefined();
    expect(Object.isFrozen(hub.hooks)).toBe(true);
  });

  it('reports a throwing tap as "plugin <name> failed in <hook>"', async () => {
    const hub = new LocalPort();
    await hub.use([definePlugin({ name: 'acme:notify', apply(api) { api.hooks.beforeStart.tapPromise('acme:notify', async () => { throw new Error('webhook down'); }); } })]);
    await expect(hub.hooks.beforeStart.promise({} as never)).rejects.toThrow('plugin acme:notify failed in beforeStart: webhook down');
  });

  it('logs a throwing stateChanged/healthChanged tap against the service, and still runs the taps after it', async () => {
    const errors: string[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (_o: object, msg: string) => void errors.push(msg) };
    const hub = new LocalPort({ logger });
    const seen: string[] = [];
    hub.hooks.stateChanged.tap('acme:sync', () => { throw new Error('nope'); });
    hub.hooks.stateChanged.tap('acme:after', (c) => void seen.push(c.to));
    expect(() => hub.hooks.stateChanged.call({ service: { name: 'db' }, from: 'starting', to: 'ready' } as never)).not.toThrow();
    expect(seen).toEqual(['ready']);
    expect(errors).toEqual(['service db: plugin acme:sync failed in stateChanged: nope']);
  });

  it('logs a rejected promise that a sync tap returns where nobody awaits it, instead of an unhandled rejection', async () => {
    const errors: string[] = [];
    const logger = { debug() {}, info() {}, warn() {}, error: (_o: object, msg: string) => void errors.push(msg) };
    const hub = new LocalPort({ logger });
    hub.hooks.healthChanged.tap('acme:async', async () => { throw new Error('later'); });
    hub.hooks.afterStart.tap('acme:async', async () => { throw new Error('later too'); });
    hub.hooks.healthChanged.call({ service: { name: 'db' }, healthy: true, result: { ok: true } } as never);
    await hub.hooks.afterStart.promise({ name: 'web' } as never, { pid: 1, localAddress: '127.0.0.1', localPort: 1 });
    await new Promise((r) => setImmediate(r));
    expect(errors.sort()).toEqual(['service db: plugin acme:async failed in healthChanged: later', 'service web: plugin acme:async failed in afterStart: later too']);
  });

  it('lets beforeRestart veto with false (bail hook)', async () => {
    const hub = new LocalPort();
    expect(await hub.hooks.beforeRestart.promise({} as never, { attempt: 1, delay: 0, reason: '' })).toBeUndefined();
    hub.hooks.beforeRestart.tap('veto', () => false);
    expect(await hub.hooks.beforeRestart.promise({} as never, { attempt: 1, delay: 0, reason: '' })).toBe(false);
  });
});

describe("a technology's functions", () => {
  const techPlugin = (createForward: () => never) =>
    definePlugin({
      name: 'acme-tech',
      apply(api) {
        api.registerTechnology({ type: 'acme', connectionSchema: z.object({}), describeTarget: () => 'far', createForward });
      },
    });

  it("name the plugin when they fail by a bug: the plugin's, to report to its author", async () => {
    const hub = new LocalPort();
    await hub.use(techPlugin(() => (undefined as unknown as { x: () => never }).x()));
    const tech = hub.technologies.get('acme');
    expect(tech.describeTarget({} as never)).toBe('far');
    let error: unknown;
    try {
      await tech.createForward({} as never, {} as never);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(PluginError);
    expect({ plugin: (error as PluginError).plugin, bug: (error as PluginError).bug, code: (error as PluginError).code, cause: (error as Error).cause }).toEqual({
      plugin: 'acme-tech',
      bug: true,
      code: 'PLUGIN_FAILED',
      cause: expect.any(TypeError),
    });
    expect((error as Error).message).toMatch(/^plugin acme-tech failed in technology 'acme' createForward\(\): Cannot read properties of undefined/);
  });

  it('pass a LocalPortError on unchanged: the plugin judged the config or the far end', async () => {
    const hub = new LocalPort();
    const refused = new ServiceFailure('AUTH_REJECTED', 'db', 'service db: refused', 'rejected');
    await hub.use(
      techPlugin(() => {
        throw refused;
      }),
    );
    await expect(Promise.resolve().then(() => hub.technologies.get('acme').createForward({} as never, {} as never))).rejects.toBe(refused);
  });
});
