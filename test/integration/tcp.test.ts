import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { Supervisor } from '../../core/supervisor/Supervisor.js';
import { resolve } from '../helpers/hub.js';
import { freePort, httpGet, startHttpServer } from '../helpers/net.js';

// The built-in `tcp` technology: in-process, no child process. A real HTTP server is the target.
const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-tcp-'));
process.env.LOCALPORT_STATE_DIR = dir;
let sup: Supervisor | undefined;
afterEach(async () => {
  await sup?.stopAll();
  sup = undefined;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function service(connection: Record<string, unknown>, over: Record<string, unknown> = {}) {
  const local = (over.local_port as number | undefined) ?? (await freePort());
  const { hub, config } = await resolve({ services: [{ name: 'db', technology: 'tcp', local_port: local, remote_port: 1, connection, ...over }] });
  sup = new Supervisor(hub);
  return { s: sup.add(config.services[0]), local };
}

it('exposes an IPv4-only server on [::1] too, with no child process', async () => {
  const web = await startHttpServer('v4 only');
  try {
    const { s, local } = await service({ host: '127.0.0.1' }, { remote_port: web.port });
    await s.start();
    expect(s.pid).toBeNull();
    expect(await httpGet(local, '::1')).toBe('v4 only');
    expect(await httpGet(local, '127.0.0.1')).toBe('v4 only');
  } finally {
    await web.close();
  }
});

it('a target that refuses fails the first start at once, naming it', async () => {
  const closed = await freePort();
  const { s } = await service({ host: '127.0.0.1' }, { remote_port: closed });
  const t0 = Date.now();
  await expect(s.start()).rejects.toThrow(`service db: connection refused by 127.0.0.1:${closed}; is the service running there, on that port?`);
  expect(Date.now() - t0).toBeLessThan(2000);
  expect(s.state).toBe('failed');
});

it('refuses to relay to its own local port (it would open connections until no descriptor is left)', async () => {
  const local = await freePort();
  const { s } = await service({ host: 'localhost' }, { local_port: local, remote_port: local });
  await expect(s.start()).rejects.toThrow(`service db: localhost:${local} is this service's own local port: the service would relay to itself`);
  expect(s.status().traffic!.total).toBe(0);
});

it('an unknown host is a permanent failure naming connection.host', async () => {
  const { s } = await service({ host: 'no-such-host.invalid' }, { remote_port: 5432 });
  await expect(s.start()).rejects.toThrow('service db: unknown host no-such-host.invalid; check connection.host');
});

/** A server on a fixed port that can go away and come back (the target of a tcp service). */
async function restartable(body: string) {
  const { default: http } = await import('node:http');
  const port = await freePort();
  let server: import('node:http').Server | undefined;
  const up = () =>
    new Promise<void>((r) => {
      server = http.createServer((_q, res) => res.end(body));
      server.listen(port, '127.0.0.1', () => r());
    });
  const down = () =>
    new Promise<void>((r) => {
      server!.closeAllConnections();
      server!.close(() => r());
    });
  await up();
  return { port, up, down };
}

it('a target that goes away: the first refused connection restarts the forward (not a 90 s wait for health checks); held connections are served once it is back', async () => {
  const target = await restartable('back again');
  const { s, local } = await service({ host: '127.0.0.1' }, { remote_port: target.port, restart_policy: { initial_delay: 0.1, jitter: 0 } });
  await s.start();
  expect(await httpGet(local)).toBe('back again');
  await target.down();
  const held = httpGet(local, '127.0.0.1', 10000);
  // The refusal is news at once: the service is restarting, not "ready, healthy".
  const t0 = Date.now();
  while (s.state === 'ready' && Date.now() - t0 < 2000) await new Promise((r) => setTimeout(r, 20));
  expect(s.state).toBe('restarting');
  expect(s.lastError).toMatch(/the target refused a connection \(ECONNREFUSED\)/);
  await target.up();
  expect(await held).toBe('back again');
  expect(s.state).toBe('ready');
  expect(s.restarts).toBe(1);
  await target.down();
}, 20000);

it('a lazy service that ran before and wakes while its target is down is retried, not failed for good', async () => {
  const target = await restartable('awake');
  const { s, local } = await service({ host: '127.0.0.1' }, { remote_port: target.port, start: 'lazy', idle_stop: 1, restart_policy: { initial_delay: 0.1, jitter: 0 } });
  await s.start();
  expect(s.state).toBe('idle');
  expect(await httpGet(local)).toBe('awake');
  const t0 = Date.now();
  while (s.state !== 'idle' && Date.now() - t0 < 3000) await new Promise((r) => setTimeout(r, 20));
  expect(s.state).toBe('idle');
  await target.down();
  const woken = httpGet(local, '127.0.0.1', 10000);
  await new Promise((r) => setTimeout(r, 500));
  expect(s.state).toBe('restarting');
  await target.up();
  expect(await woken).toBe('awake');
  await target.down();
}, 20000);

it('relay: false is refused for the tcp technology when the config is validated', async () => {
  await expect(resolve({ services: [{ name: 'db', technology: 'tcp', local_port: 1, remote_port: 1, relay: false, connection: { host: 'h' } }] })).rejects.toThrow(
    'services[0] (db).relay: technology tcp runs inside LocalPort and needs its listener; remove relay: false',
  );
});

it('a lazy service whose first wake fails (target down) keeps its port: waiting connections are reset, the next one tries again', async () => {
  const target = await restartable('second try');
  await target.down();
  const { s, local } = await service({ host: '127.0.0.1' }, { remote_port: target.port, start: 'lazy' });
  await s.start();
  await expect(httpGet(local, '127.0.0.1', 5000)).rejects.toThrow(/ECONNRESET|socket hang up/);
  expect(s.state).toBe('idle');
  expect(s.lastError).toMatch(/connection refused by 127\.0\.0\.1/);
  await target.up();
  expect(await httpGet(local, '127.0.0.1', 5000)).toBe('second try');
  expect(s.state).toBe('ready');
  await target.down();
}, 20000);

describe('a third-party in-process technology that breaks the contract', () => {
  const plugin = (connect: () => unknown, extra: Record<string, unknown> = {}) => ({
    name: 'test:evil',
    apply(api: { registerTechnology(t: unknown): void }) {
      api.registerTechnology({ type: 'evil', connectionSchema: z.object({}), describeTarget: () => 'evil', createForward: () => ({ connect, ready: async () => {}, ...extra }) });
    },
  });
  const evil = async (connect: () => unknown, extra: Record<string, unknown> = {}) => {
    const local = await freePort();
    const { hub, config } = await resolve({ services: [{ name: 'e', technology: 'evil', local_port: local, remote_port: 1, hold_timeout: '1s' }] }, {}, [plugin(connect, extra) as never]);
    sup = new Supervisor(hub);
    const s = sup.add(config.services[0]);
    await s.start();
    return { s, local };
  };

  it.each([
    ['resolves with a number', () => Promise.resolve(42), /plugin test:evil failed in technology 'evil' connect\(\): resolved with number instead of a connected duplex stream/],
    ['throws synchronously', () => { throw new Error('sync bug'); }, /plugin test:evil failed in technology 'evil' connect\(\): sync bug/],
    ['rejects with null', () => Promise.reject(null), /plugin test:evil failed in technology 'evil' connect\(\): rejected with null instead of an Error/],
  ])('%s: the client is reset, LocalPort carries on, and the plugin is named', async (_what, connect, message) => {
    const { s, local } = await evil(connect);
    await expect(httpGet(local, '127.0.0.1', 5000)).rejects.toThrow();
    // The service restarts (the refusal ends the forward) or stays; either way the reason names the plugin.
    expect(`${s.lastError}`).toMatch(message);
  });

  it('a connect that never settles is bounded by hold_timeout (no connection kept forever)', async () => {
    const { s, local } = await evil(() => new Promise(() => {}));
    const t0 = Date.now();
    await expect(httpGet(local, '127.0.0.1', 5000)).rejects.toThrow(/ECONNRESET|socket hang up/);
    expect(Date.now() - t0).toBeLessThan(3000);
    expect(s.status().traffic).toMatchObject({ active: 0, held: 0, timedOut: 1 });
  });

  it('a close that never settles does not hang the stop', async () => {
    const { s } = await evil(() => new Promise(() => {}), { close: () => new Promise(() => {}) });
    const t0 = Date.now();
    await s.stop();
    expect(s.state).toBe('stopped');
    expect(Date.now() - t0).toBeLessThan(4000);
  });
});

it('refuses a target that is another service’s own port on this machine (a loop through two services)', async () => {
  const [a, b] = [await freePort(), await freePort()];
  const { hub, config } = await resolve({
    services: [
      { name: 'a', technology: 'tcp', local_port: a, remote_port: b, connection: { host: '127.0.0.1' }, start: 'lazy' },
      { name: 'b', technology: 'tcp', local_port: b, remote_port: a, connection: { host: 'localhost' }, start: 'lazy' },
    ],
  });
  sup = new Supervisor(hub);
  await Promise.all(config.services.map((d) => sup!.add(d).start()));
  await expect(httpGet(a, '127.0.0.1', 3000)).rejects.toThrow();
  const s = sup.services.get('a')!;
  expect(s.lastError).toMatch(/is one of LocalPort's own listeners: the service would relay to itself/);
  // One attempt, not a flood: a handful of connections at most.
  expect(s.status().traffic!.total + sup.services.get('b')!.status().traffic!.total).toBeLessThan(10);
});

it("bind_address '::' listens on every address, IPv4 too (as Linux's dual-stack wildcard does)", async () => {
  const web = await startHttpServer('wildcard');
  try {
    const { s, local } = await service({ host: '127.0.0.1', bind_address: '::' }, { remote_port: web.port });
    await s.start();
    expect(await httpGet(local, '127.0.0.1')).toBe('wildcard');
    expect(await httpGet(local, '::1')).toBe('wildcard');
    expect(s.status().listen).toEqual([`[::]:${local}`]);
  } finally {
    await web.close();
  }
});
