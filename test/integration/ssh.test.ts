import { chmodSync, copyFileSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { execFileSync } from 'node:child_process';
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { Supervisor } from '../../core/supervisor/Supervisor.js';
import { resolve } from '../helpers/hub.js';
import { freePort, httpGet, startHttpServer, waitForHttp, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer, hasSshd } from '../helpers/peers.js';
import { alive, processesMatching, sshTunnels, waitUntil } from '../helpers/procs.js';
import { sshConnection, startSshd, type SshdPeer } from '../helpers/sshd.js';

// Real OpenSSH: /usr/sbin/sshd on 127.0.0.1 and the system ssh client, with a real HTTP server behind the tunnel.

describeWithPeer('OpenSSH sshd', hasSshd, 'ssh technology through a real sshd', () => {
  let sshd: SshdPeer;
  let web: HttpPeer;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-ssh-'));
  let sup: Supervisor | undefined;

  beforeAll(async () => {
    process.env.LOCALPORT_STATE_DIR = dir;
    [sshd, web] = await Promise.all([startSshd(), startHttpServer('through ssh')]);
  });
  afterEach(async () => {
    await sup?.stopAll();
    sup = undefined;
  });
  afterAll(async () => {
    await Promise.all([sshd?.stop(), web?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  async function service(connection: Record<string, unknown> = {}, over: Record<string, unknown> = {}) {
    const local = await freePort();
    const { hub, config } = await resolve({
      services: [{ name: 'web', technology: 'ssh', local_port: local, remote_port: web.port, connection: { ...sshConnection(sshd), remote_host: '127.0.0.1', ...connection }, ...over }],
    });
    sup = new Supervisor(hub);
    return { s: sup.add(config.services[0]), local };
  }

  it('forwards real bytes once ready, with no sleep and no polling loop in between', async () => {
    // Its own ssh process (not a shared master: see shared-ssh.test.ts), to see its command line.
    const { s, local } = await service({}, { share_connection: false });
    await s.start();
    expect(s.state).toBe('ready');
    // Ready means listening: the very first request succeeds.
    expect(await httpGet(local)).toBe('through ssh');
    // ssh listens on a private Unix socket behind LocalPort's own listener on the local port.
    const cmd = processesMatching(`.sock:127.0.0.1:${web.port}`);
    expect(cmd).toHaveLength(1);
    expect(cmd[0].cmd).toMatch(new RegExp(`-L /\\S+/localport-s\\d+-\\w+/\\d+\\.sock:127\\.0\\.0\\.1:${web.port}`));
    expect(cmd[0].cmd).toContain('ExitOnForwardFailure=yes');
    expect(cmd[0].cmd).toContain('BatchMode=yes');
  });

  it('is back within about a second after kill -9 of ssh', async () => {
    const { s, local } = await service();
    await s.start();
    const pid = s.pid!;
    process.kill(pid, 'SIGKILL');
    const took = await waitForHttp(local, 3000);
    expect(took).toBeLessThan(1500);
    expect(s.pid).not.toBe(pid);
    expect(s.restarts).toBe(1);
  });

  it('stops cleanly: ssh is gone and the port is free', async () => {
    const { s, local } = await service();
    await s.start();
    const pid = s.pid!;
    await s.stop();
    expect(alive(pid)).toBe(false);
    await expect(httpGet(local, '127.0.0.1', 300)).rejects.toThrow();
  });

  it('explains a refused key', async () => {
    const other = path.join(dir, 'other_key');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const { s } = await service({ key_file: other });
    await expect(s.start()).rejects.toThrow(`service web: authentication refused by ${sshd.user}@127.0.0.1:${sshd.port}; check user and key_file`);
    expect(s.pid).toBeNull();
  });

  it('explains a key file others can read by its mode and the chmod, not as a refused login, and does not retry', async () => {
    const loose = path.join(dir, 'loose key');
    copyFileSync(sshConnection(sshd).key_file, loose);
    chmodSync(loose, 0o644);
    const { s } = await service({ key_file: loose });
    const error = (await s.start().catch((e: Error) => e)) as Error;
    // ssh itself says "Load key …: bad permissions", then "Permission denied": it was "authentication refused … check user and key_file".
    expect(error.message).toBe(`service web: key_file ${loose} has mode 0644: others can read it, so ssh will not use it; make it private: chmod 600 '${loose}'`);
    expect(s.restarts).toBe(0);
    expect(s.pid).toBeNull();
  });

  it('explains a host key mismatch', async () => {
    const wrong = path.join(dir, 'known_hosts_wrong');
    const other = path.join(dir, 'fake_host');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', other]);
    const pub = execFileSync('cat', [`${other}.pub`], { encoding: 'utf8' }).trim().split(' ').slice(0, 2).join(' ');
    writeFileSync(wrong, `[127.0.0.1]:${sshd.port} ${pub}\n`);
    const { s } = await service({ known_hosts_file: wrong, strict_host_key_checking: 'accept-new' });
    // The hint is the exact command for that file and port: `ssh-keygen -R 127.0.0.1` would edit another file and entry.
    const error = await s.start().catch((e: Error) => e);
    expect((error as Error).message).toContain(`the host key of ${sshd.user}@127.0.0.1:${sshd.port} ([127.0.0.1]:${sshd.port}) has CHANGED`);
    expect((error as Error).message).toContain(`ssh-keygen -f ${wrong} -R "[127.0.0.1]:${sshd.port}"`);
  });

  it('explains a refused connection', async () => {
    const closed = await freePort();
    const { s } = await service({ port: closed });
    await expect(s.start()).rejects.toThrow(`service web: connection refused by ${sshd.user}@127.0.0.1:${closed}; is sshd running there, on that port?`);
  });

  it('explains an unknown host', async () => {
    const { s } = await service({ host: 'no-such-host.invalid' });
    await expect(s.start()).rejects.toThrow('service web: unknown host no-such-host.invalid; check connection.host or your ~/.ssh/config');
  });

  it('names the port and its holder instead of looping when the local port is taken', async () => {
    const port = await freePort();
    const holder = net.createServer().listen(port, '127.0.0.1');
    await new Promise((r) => holder.once('listening', r));
    try {
      const { hub, config } = await resolve({
        services: [{ name: 'web', technology: 'ssh', local_port: port, remote_port: web.port, connection: sshConnection(sshd) }],
      });
      sup = new Supervisor(hub);
      const err = await sup.add(config.services[0]).start().catch((e) => e);
      expect(err.message).toMatch(new RegExp(`^service web: local port ${port} on 127\\.0\\.0\\.1 is already in use by pid ${process.pid} \\(.*node`));
      expect(sshTunnels(port, sshd.port)).toHaveLength(0);
    } finally {
      holder.close();
    }
  });

  it('restarts through an sshd outage with growing delays and recovers when it is back', async () => {
    const { s, local } = await service({}, { restart_policy: { initial_delay: 0.1, backoff_multiplier: 2, jitter: 0 } });
    const delays: number[] = [];
    s.hub.hooks.beforeRestart.tap('test', (_svc, info) => {
      delays.push(info.delay);
    });
    await s.start();
    // Kill the listener and its sessions: the tunnel dies and reconnects are refused.
    await sshd.killServer();
    await waitUntil(() => delays.length >= 3, 5000, 'three restart attempts');
    expect(delays.slice(0, 3)).toEqual([0.1, 0.2, 0.4]);
    expect(s.state).toBe('restarting');
    expect(s.lastError).toMatch(/connection refused/);
    await sshd.startServer();
    await waitForHttp(local, 5000);
    expect(s.state).toBe('ready');
  });
});
