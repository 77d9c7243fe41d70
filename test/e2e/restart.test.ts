import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { freePort, httpGet } from '../helpers/net.js';
import { waitUntil } from '../helpers/procs.js';

// `localport restart`, and the status fields that tell a retrying service's story (the daemon, a tcp
// service to a real HTTP server that goes away and comes back).

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-restart-'));
const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state') };
afterAll(async () => {
  await runCli(['daemon', 'stop'], { cwd: dir, env });
  rmSync(dir, { recursive: true, force: true });
});

interface Status {
  name: string;
  state: string;
  since: string | null;
  restarts: number;
  attempt: number;
  failedAttempts: number;
  nextRetryAt: string | null;
  lastError: string | null;
  lastErrorAt: string | null;
  traffic: { total: number } | null;
}

it('restart stops and starts a service again; while it retries, status shows the attempt, the next retry, the failed attempts and when the last error was', async () => {
  const [local, remote] = [await freePort(), await freePort()];
  let server: http.Server | undefined;
  const up = () => new Promise<void>((r) => (server = http.createServer((_q, res) => res.end('up')).listen(remote, '127.0.0.1', () => r())));
  const down = () => new Promise<void>((r) => (server!.closeAllConnections(), server!.close(() => r())));
  await up();
  writeFileSync(
    path.join(dir, 'localport.yaml'),
    `services:
  - name: api
    technology: tcp
    local_port: ${local}
    remote_port: ${remote}
    connection: { host: 127.0.0.1 }
    restart_policy: { initial_delay: 1, backoff_multiplier: 2, jitter: 0 }
`,
  );
  const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });
  const status = async () => (JSON.parse((await cli('status', '--output', 'json')).stdout) as { services: Status[] }).services[0];
  try {
    expect((await cli('start')).code).toBe(0);
    expect(await httpGet(local)).toBe('up');
    const first = await status();

    const restarted = await cli('restart', 'api');
    expect(restarted.code).toBe(0);
    const after = await status();
    expect(after.state).toBe('ready');
    expect(after.since).not.toBe(first.since);
    // The same service (its port LocalPort's all along): its traffic is kept.
    expect(after.traffic!.total).toBe(1);

    // The target goes away: the service retries, and says how.
    await down();
    await httpGet(local, '127.0.0.1', 500).catch(() => {});
    await waitUntil(async () => (await status()).failedAttempts >= 1, 10000, 'a failed retry');
    const retrying = await status();
    expect(retrying.state).toBe('restarting');
    expect(retrying.attempt).toBeGreaterThanOrEqual(2);
    expect(Date.parse(retrying.nextRetryAt!)).toBeGreaterThan(Date.now() - 1000);
    expect(retrying.lastError).toMatch(/connection refused by 127\.0\.0\.1/);
    expect(Date.now() - Date.parse(retrying.lastErrorAt!)).toBeLessThan(10000);
    const table = (await cli('status', '--wide')).stdout;
    expect(table).toMatch(/restarting .*\(attempt \d+, next in \d+s, \d+ failed\)/);
    expect(table).toMatch(/connection refused by 127\.0\.0\.1:\d+; is the service running there, on that port\? \(\d+s ago\)/);

    await up();
    await waitUntil(async () => (await status()).state === 'ready', 15000, 'ready again');
    expect((await status()).nextRetryAt).toBeNull();
  } finally {
    server?.closeAllConnections();
    server?.close();
  }
}, 60000);
