import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { tcpCheck } from '../../../plugins/health-tcp/index.js';
import { makeHub } from '../../helpers/hub.js';

// Node 17+ resolves `localhost` to ::1 first, while forwards bind 127.0.0.1. A user who writes
// `localhost` in a check (the original sample does: bootstrap_servers: "localhost:6092") must still
// reach a forward that listens on 127.0.0.1 only.
describe('localhost against a forward bound on 127.0.0.1', () => {
  let server: http.Server;
  let port: number;
  beforeAll(async () => {
    server = http.createServer((_q, r) => r.end('v4 only'));
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(() => {
    server.close();
  });

  it('the tcp check reaches it', async () => {
    expect(await tcpCheck('localhost', port, 1000)).toMatchObject({ ok: true });
    expect(await tcpCheck('127.0.0.1', port, 1000)).toMatchObject({ ok: true });
  });

  it('the http check reaches it by a localhost URL', async () => {
    const hub = await makeHub();
    const check = hub.healthChecks.get('http');
    const config = check.configSchema.parse({ url: `http://localhost:${port}/`, expected_status: 200 });
    const result = await check.check({ service: {} as never, host: '127.0.0.1', port, connect: () => Promise.reject(new Error('not used')), timeout: 2, config, signal: new AbortController().signal });
    expect(result).toMatchObject({ ok: true, code: '200' });
  });
});
