import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { freePort, httpGet, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer, hasSshd } from '../helpers/peers.js';
import { alive, sshTunnels, waitUntil } from '../helpers/procs.js';
import { sshConnection, startSshd, type SshdPeer } from '../helpers/sshd.js';

// `start: lazy` and `idle_stop` under the daemon, seen the way a user sees them: `status --output json`
// (real OpenSSH sshd on 127.0.0.1, a real HTTP server behind the tunnel).

interface Status {
  services: {
    name: string;
    state: string;
    pid: number | null;
    start: string;
    listen: string[];
    health: { state: string; lastCheck: string | null } | null;
    traffic: { total: number; active: number; heldTotal: number } | null;
  }[];
}

describeWithPeer('OpenSSH sshd', hasSshd, 'a lazy service under the daemon', () => {
  let sshd: SshdPeer;
  let web: HttpPeer;
  const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-lazy-'));
  const env = { LOCALPORT_STATE_DIR: path.join(root, 'state') };

  beforeAll(async () => {
    [sshd, web] = await Promise.all([startSshd(), startHttpServer('lazy through ssh')]);
  });
  afterAll(async () => {
    await runCli(['daemon', 'stop'], { cwd: root, env });
    await Promise.all([sshd?.stop(), web?.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  it('has no tunnel until the first connection, serves it, stops the tunnel after idle_stop, and starts it again; each step in status --output json', async () => {
    const local = await freePort();
    const c = sshConnection(sshd);
    writeFileSync(
      path.join(root, 'localport.yaml'),
      `services:
  - name: web
    technology: ssh
    local_port: ${local}
    remote_port: ${web.port}
    start: lazy
    idle_stop: 1s
    health_check: { type: tcp, interval: 0.2 }
    connection: { host: 127.0.0.1, port: ${c.port}, user: ${c.user}, key_file: ${c.key_file}, known_hosts_file: ${c.known_hosts_file}, remote_host: 127.0.0.1 }
`,
    );
    const status = async () => {
      const r = await runCli(['status', '--output', 'json'], { cwd: root, env });
      expect(r.code).toBe(0);
      return (JSON.parse(r.stdout) as Status).services[0];
    };

    const start = await runCli(['start'], { cwd: root, env, timeoutMs: 30000 });
    expect(start.code).toBe(0);
    // 1. Listening, idle: no tunnel process, no health check, nothing counted.
    const idle = await status();
    expect(idle).toMatchObject({ state: 'idle', pid: null, start: 'lazy', listen: [`127.0.0.1:${local}`, `[::1]:${local}`], traffic: { total: 0 } });
    expect(idle.health?.lastCheck ?? null).toBeNull();
    expect(sshTunnels(local, sshd.port)).toEqual([]);

    // 2. The first connection starts the tunnel (it waits for it: counted as held). It stays open, so the
    //    tunnel cannot go idle while we look; a request beside it is answered.
    const first = net.connect(local, '127.0.0.1');
    first.on('error', () => {});
    expect(await httpGet(local, '127.0.0.1', 15000)).toBe('lazy through ssh');
    const up = await status();
    expect(up).toMatchObject({ state: 'ready', traffic: { total: 2, active: 1 } });
    expect(up.traffic!.heldTotal).toBeGreaterThanOrEqual(1);
    expect(up.pid).toEqual(expect.any(Number));
    expect(alive(up.pid!)).toBe(true);
    expect(sshTunnels(local, sshd.port).map((p) => p.pid)).toEqual([up.pid]);
    await waitUntil(async () => (await status()).health?.state === 'healthy', 5000, 'healthy while up');

    // 3. One second without a connection: the tunnel stops; the service is idle, not failed.
    first.destroy();
    await waitUntil(async () => (await status()).state === 'idle', 5000, 'idle after idle_stop');
    const again = await status();
    expect(again).toMatchObject({ state: 'idle', pid: null, traffic: { total: 2, active: 0 } });
    await waitUntil(() => !alive(up.pid!), 3000, 'the tunnel process gone');
    expect(sshTunnels(local, sshd.port)).toEqual([]);
    // Health checks run only while the tunnel is up.
    const lastCheck = again.health?.lastCheck;
    await new Promise((r) => setTimeout(r, 600));
    expect((await status()).health?.lastCheck ?? null).toBe(lastCheck ?? null);

    // 4. The next connection (over IPv6 this time) brings it back (kept open while we look, as above).
    const next = net.connect(local, '::1');
    next.on('error', () => {});
    expect(await httpGet(local, '::1', 15000)).toBe('lazy through ssh');
    const back = await status();
    expect(back).toMatchObject({ state: 'ready', traffic: { total: 4 } });
    expect(back.pid).not.toBe(up.pid);
    next.destroy();
  }, 60000);
});
