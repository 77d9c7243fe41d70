import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, expect, it } from '@jest/globals';
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
  await expect(s.start()).rejects.toThrow(`service db: localhost:${local} is this service's own local port: LocalPort would relay to itself`);
  expect(s.status().traffic!.total).toBe(0);
});

it('an unknown host is a permanent failure naming connection.host', async () => {
  const { s } = await service({ host: 'no-such-host.invalid' }, { remote_port: 5432 });
  await expect(s.start()).rejects.toThrow('service db: unknown host no-such-host.invalid; check connection.host');
});
