import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { Supervisor } from '../../core/supervisor/Supervisor.js';
import { resolve } from '../helpers/hub.js';
import { freePort, httpGet, startHttpServer, waitForHttp, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer, hasSshd } from '../helpers/peers.js';
import { waitUntil } from '../helpers/procs.js';
import { startSshd, type SshdPeer } from '../helpers/sshd.js';

// The exec technology wrapping the real OpenSSH client against a real sshd, a real HTTP server behind.

describeWithPeer('OpenSSH sshd', hasSshd, 'exec technology wrapping ssh -N -L', () => {
  let sshd: SshdPeer;
  let web: HttpPeer;
  let sup: Supervisor | undefined;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-exec-'));
  beforeAll(async () => {
    process.env.LOCALPORT_STATE_DIR = dir;
    [sshd, web] = await Promise.all([startSshd(), startHttpServer('via exec')]);
  });
  afterEach(async () => {
    await sup?.stopAll();
    sup = undefined;
  });
  afterAll(async () => {
    await Promise.all([sshd?.stop(), web?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  async function service(readyPattern?: string) {
    const local = await freePort();
    const { hub, config } = await resolve({
      services: [
        {
          name: 'tunnel',
          technology: 'exec',
          local_port: local,
          remote_port: web.port,
          restart_policy: { initial_delay: 0.1 },
          connection: {
            command: 'ssh',
            // -v makes ssh say when the forward listens; {placeholders} are filled per service.
            args: ['-v', '-N', '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes', '-o', `UserKnownHostsFile=${sshd.knownHosts}`, '-i', sshd.clientKey, '-p', '{sshPort}', '-L', '{bindAddress}:{localPort}:127.0.0.1:{remotePort}', '{host}'],
            host: '127.0.0.1',
            vars: { sshPort: sshd.port },
            ...(readyPattern ? { ready_pattern: readyPattern } : {}),
          },
        },
      ],
    });
    sup = new Supervisor(hub);
    return { s: sup.add(config.services[0]), local };
  }

  it('is ready when its output matches ready_pattern, and forwards', async () => {
    const { s, local } = await service('Local forwarding listening on 127\\.0\\.0\\.1 port \\d+');
    await s.start();
    expect(await httpGet(local)).toBe('via exec');
  });

  it('is ready when the local port accepts, without a pattern', async () => {
    const { s, local } = await service();
    await s.start();
    expect(await httpGet(local)).toBe('via exec');
  });

  it('is restarted when its process dies', async () => {
    const { s, local } = await service('Local forwarding listening');
    await s.start();
    const pid = s.pid!;
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => s.state === 'ready' && s.pid !== pid, 5000, 'restart');
    expect(s.restarts).toBe(1);
    await waitForHttp(local, 2000);
  });

  it('refuses an unknown placeholder when the config is validated, naming the ones available', async () => {
    await expect(
      resolve({ services: [{ name: 'x', technology: 'exec', local_port: 1, remote_port: 1, connection: { command: 'true', args: ['--to', '{nope}'], vars: { zone: 'a' } } }] }),
    ).rejects.toThrow('test.yaml: services[0] (x).connection.args[1]: unknown placeholder {nope}; available: {localPort}, {remotePort}, {bindAddress}, {name}, {zone} (add it under vars)');
  });
});
