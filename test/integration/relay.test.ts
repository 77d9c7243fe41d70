import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { Supervisor } from '../../core/supervisor/Supervisor.js';
import { FAKE_TUNNEL } from '../helpers/fake-tech.js';
import { resolve } from '../helpers/hub.js';
import { freePort, httpGet, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer, hasSshd } from '../helpers/peers.js';
import { alive, processesMatching, tunnelsServing, waitUntil } from '../helpers/procs.js';
import { sshConnection, startSshd, type SshdPeer } from '../helpers/sshd.js';

// LocalPort's front: its own listener on the service's port, relaying to the tunnel (real OpenSSH sshd
// on 127.0.0.1 and the system ssh client, a real HTTP server behind it).

describeWithPeer('OpenSSH sshd', hasSshd, 'the relay in front of a real ssh tunnel', () => {
  let sshd: SshdPeer;
  let web: HttpPeer;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-relay-'));
  let sup: Supervisor | undefined;

  beforeAll(async () => {
    process.env.LOCALPORT_STATE_DIR = dir;
    [sshd, web] = await Promise.all([startSshd(), startHttpServer('through the relay')]);
  });
  afterEach(async () => {
    await sup?.stopAll();
    sup = undefined;
  });
  afterAll(async () => {
    await Promise.all([sshd?.stop(), web?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  async function service(over: Record<string, unknown> = {}, connection: Record<string, unknown> = {}) {
    const local = await freePort();
    const { hub, config } = await resolve({
      services: [{ name: 'web', technology: 'ssh', local_port: local, remote_port: web.port, connection: { ...sshConnection(sshd), remote_host: '127.0.0.1', ...connection }, ...over }],
    });
    sup = new Supervisor(hub);
    return { s: sup.add(config.services[0]), local };
  }

  it('answers every one of the connections opened every 20 ms for 5 s while ssh is killed with -9 (none refused)', async () => {
    const { s, local } = await service({ restart_policy: { initial_delay: 0.1, jitter: 0 } });
    await s.start();
    const first = s.pid!;
    const results: Promise<string>[] = [];
    const t0 = Date.now();
    let killed = false;
    while (Date.now() - t0 < 5000) {
      if (!killed && Date.now() - t0 > 1000) {
        // Killed between two requests: every connection from here on is new while the tunnel restarts.
        // (One that ssh had already read when it died is cut and counted, never sent twice: see front.ts.)
        await Promise.all(results);
        // Past the front's 50 ms wait on the last answers' FINs: a death right after an answer counts it as cut.
        await new Promise((r) => setTimeout(r, 100));
        process.kill(first, 'SIGKILL');
        killed = true;
      }
      // A new connection each time (agent: false): the ones opened while ssh is dead must be held.
      results.push(httpGet(local, '127.0.0.1', 15000).catch((e: Error) => `FAILED: ${e.message}`));
      await new Promise((r) => setTimeout(r, 20));
    }
    const answers = await Promise.all(results);
    expect(answers.length).toBeGreaterThan(150);
    expect(answers.filter((a) => a !== 'through the relay')).toEqual([]);
    expect(s.pid).not.toBe(first);
    expect(s.restarts).toBe(1);
    const t = s.status().traffic!;
    expect(t.total).toBe(answers.length);
    // Some waited for the new tunnel; none was refused, timed out or cut (each answer is a whole response).
    expect(t.heldTotal).toBeGreaterThan(0);
    expect(t.timedOut).toBe(0);
    expect(t.cut).toBe(0);
    expect(t.bytesOut).toBeGreaterThan(answers.length * 'through the relay'.length);
  }, 30000);

  it('health goes through the tunnel: with ssh dead, a tcp check fails although the front still accepts', async () => {
    // A long first restart delay keeps the tunnel dead while we look.
    const { s, local } = await service({ restart_policy: { initial_delay: 3, jitter: 0 } });
    await s.start();
    expect(await s.health.runCheck()).toMatchObject({ ok: true });
    process.kill(s.pid!, 'SIGKILL');
    await waitUntil(() => s.state === 'restarting', 2000, 'restarting');
    // The front accepts (a connection is held) ...
    const accepted = await new Promise<boolean>((r) => net.connect(local, '127.0.0.1').once('connect', function (this: net.Socket) { this.destroy(); r(true); }).once('error', () => r(false)));
    expect(accepted).toBe(true);
    // ... and the check, which goes to the tunnel, fails.
    const result = await s.health.runCheck();
    expect(result).toMatchObject({ ok: false, kind: 'unreachable' });
    // The held request is answered once the tunnel is back.
    expect(await httpGet(local, '127.0.0.1', 10000)).toBe('through the relay');
  }, 20000);

  it('listens on 127.0.0.1 and [::1] by default; an explicit bind_address is honoured exactly', async () => {
    const { s, local } = await service();
    await s.start();
    expect(await httpGet(local, '127.0.0.1')).toBe('through the relay');
    expect(await httpGet(local, '::1')).toBe('through the relay');
    expect(s.status().listen).toEqual([`127.0.0.1:${local}`, `[::1]:${local}`]);
    await sup!.stopAll();

    const only = await service({}, { bind_address: '127.0.0.1' });
    await only.s.start();
    expect(await httpGet(only.local, '127.0.0.1')).toBe('through the relay');
    await expect(httpGet(only.local, '::1')).rejects.toThrow(/ECONNREFUSED/);
    expect(only.s.status().listen).toEqual([`127.0.0.1:${only.local}`]);
  });

  it('ssh listens on a private Unix socket (0600, in a 0700 directory), which is gone after the stop', async () => {
    const { s } = await service({ share_connection: false });
    await s.start();
    const [tunnel] = tunnelsServing(s.service.localPort, 'ssh');
    const socket = /-L (\S+\.sock):/.exec(tunnel.cmd)![1];
    const { statSync, existsSync } = await import('node:fs');
    expect(statSync(socket).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(socket)).mode & 0o777).toBe(0o700);
    await s.stop();
    expect(existsSync(socket)).toBe(false);
  });

  it('a shared master listens for the service on a private Unix socket, and has its control socket there (0600, 0700 directory); both gone after the stop', async () => {
    const { s } = await service();
    await s.start();
    const master = processesMatching('ControlPath=').find((p) => p.pid === s.pid)!;
    const control = /ControlPath=(\S+)/.exec(master.cmd)![1];
    const { statSync, existsSync, readdirSync } = await import('node:fs');
    const dir = path.dirname(control);
    const forwards = readdirSync(dir).filter((f) => f.endsWith('.sock')).map((f) => path.join(dir, f));
    expect(forwards.length).toBeGreaterThanOrEqual(1);
    for (const file of [control, ...forwards]) expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(dir).uid).toBe(process.getuid!());
    await s.stop();
    await waitUntil(() => !existsSync(control), 3000, 'the control socket gone with the master');
    for (const file of forwards) expect(existsSync(file)).toBe(false);
  });

  it('a hot reload that changes the service keeps its port open: connections during the change wait for the new tunnel', async () => {
    const other = await startHttpServer('through the new definition');
    try {
      const { s, local } = await service();
      await s.start();
      const { config } = await resolve({
        services: [{ name: 'web', technology: 'ssh', local_port: local, remote_port: other.port, connection: { ...sshConnection(sshd), remote_host: '127.0.0.1' } }],
      });
      const results: Promise<string>[] = [];
      let replaced: Promise<{ started?: Promise<void> }> | undefined;
      const t0 = Date.now();
      while (Date.now() - t0 < 2000) {
        results.push(httpGet(local, '127.0.0.1', 10000).catch((e: Error) => `FAILED: ${e.message}`));
        if (!replaced && Date.now() - t0 > 300) replaced = sup!.replace(config.services[0]);
        await new Promise((r) => setTimeout(r, 20));
      }
      await (await replaced!).started;
      const answers = await Promise.all(results);
      expect(answers.filter((a) => a.startsWith('FAILED'))).toEqual([]);
      expect(answers[0]).toBe('through the relay');
      expect(answers.at(-1)).toBe('through the new definition');
      // The counts carry over to the new definition.
      expect(sup!.services.get('web')!.status().traffic!.total).toBe(answers.length);
    } finally {
      await other.close();
    }
  }, 20000);

  it('a hot reload lets a request in flight on the old tunnel finish (not cut) while the new tunnel takes the new ones', async () => {
    const { default: http } = await import('node:http');
    const slow = http.createServer((_q, res) => setTimeout(() => res.end('slow answer from the old definition'), 1500));
    await new Promise<void>((r) => slow.listen(0, '127.0.0.1', r));
    const other = await startHttpServer('through the new definition');
    try {
      const slowPort = (slow.address() as net.AddressInfo).port;
      const { s, local } = await service({}, {});
      void s;
      const { config: first } = await resolve({ services: [{ name: 'web', technology: 'ssh', local_port: local, remote_port: slowPort, connection: { ...sshConnection(sshd), remote_host: '127.0.0.1' } }] });
      await (await sup!.replace(first.services[0], { start: true })).started;
      const inFlight = httpGet(local, '127.0.0.1', 10000);
      await new Promise((r) => setTimeout(r, 300));
      const { config } = await resolve({ services: [{ name: 'web', technology: 'ssh', local_port: local, remote_port: other.port, connection: { ...sshConnection(sshd), remote_host: '127.0.0.1' } }] });
      const replaced = sup!.replace(config.services[0]);
      await (await replaced).started;
      expect(await httpGet(local, '127.0.0.1', 10000)).toBe('through the new definition');
      expect(await inFlight).toBe('slow answer from the old definition');
      expect(sup!.services.get('web')!.status().traffic!.cut).toBe(0);
    } finally {
      slow.closeAllConnections();
      slow.close();
      await other.close();
    }
  }, 20000);

  it('relay: false keeps the old way: ssh binds the local port itself, and no traffic is counted', async () => {
    const { s, local } = await service({ relay: false });
    await s.start();
    expect(await httpGet(local)).toBe('through the relay');
    expect(processesMatching(`127.0.0.1:${local}:127.0.0.1:${web.port}`).filter((p) => p.cmd.startsWith('ssh'))).toHaveLength(1);
    expect(s.status()).toMatchObject({ relay: false, traffic: null, listen: [`127.0.0.1:${local}`] });
    await s.stop();
    expect(tunnelsServing(local)).toEqual([]);
  });
});

it('a connection waits hold_timeout for a tunnel that does not come back, then is reset, counted and logged', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-hold-'));
  process.env.LOCALPORT_STATE_DIR = dir;
  const local = await freePort();
  const flag = path.join(dir, 'flag');
  const { hub, config } = await resolve({
    services: [
      {
        name: 'stuck',
        technology: 'exec',
        local_port: local,
        remote_port: 1,
        hold_timeout: '1s',
        restart_policy: { initial_delay: 0.1, jitter: 0 },
        connection: { command: process.execPath, args: [FAKE_TUNNEL, '{localPort}', 'ok', '0', flag] },
      },
    ],
  });
  const warnings: string[] = [];
  const original = hub.logger.warn.bind(hub.logger);
  hub.logger.warn = (obj: object | string, msg?: string) => {
    warnings.push(typeof obj === 'string' ? obj : (msg ?? ''));
    original(obj, msg);
  };
  const sup = new Supervisor(hub);
  try {
    const s = sup.add(config.services[0]);
    await s.start();
    // From now on the tunnel never listens again.
    writeFileSync(flag, 'hang');
    const pid = s.pid!;
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => !alive(pid) && s.state !== 'ready', 2000, 'the tunnel gone');
    const t0 = Date.now();
    const outcome = await new Promise<string>((r) => {
      const c = net.connect(local, '127.0.0.1');
      c.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? e.message));
      c.on('close', () => r('closed'));
    });
    const waited = Date.now() - t0;
    expect(outcome).toBe('ECONNRESET');
    expect(waited).toBeGreaterThanOrEqual(900);
    expect(waited).toBeLessThan(3000);
    expect(s.status().traffic).toMatchObject({ timedOut: 1, heldTotal: 1 });
    expect(warnings.some((w) => /service stuck: a connection waited 1\.\d s for the tunnel and was closed/.test(w))).toBe(true);
  } finally {
    await sup.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
}, 20000);

it('a technology that still binds the local port itself gets a clear error naming the contract, not a retry loop', async () => {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-oldplugin-'));
  process.env.LOCALPORT_STATE_DIR = dir;
  const local = await freePort();
  const { definePlugin, configObject } = await import('../../core/index.js');
  const old = definePlugin({
    name: 'test:old-style',
    apply(api) {
      api.registerTechnology({
        type: 'oldstyle',
        connectionSchema: configObject({}),
        describeTarget: () => 'old',
        // Written before the relay: listens on the service's own local port.
        createForward: (s) => ({ command: process.execPath, args: [FAKE_TUNNEL, String(s.localPort), 'ok'], ready: { output: /^LISTENING / } }),
      });
    },
  });
  const { hub, config } = await resolve({ services: [{ name: 'legacy', technology: 'oldstyle', local_port: local, remote_port: 1 }] }, {}, [old]);
  const sup = new Supervisor(hub);
  try {
    const s = sup.add(config.services[0]);
    await expect(s.start()).rejects.toMatchObject({
      code: 'PLUGIN_CONTRACT',
      message: expect.stringMatching(new RegExp(`^service legacy: the oldstyle process tried to listen on local port ${local} itself, which LocalPort's own listener holds`)),
      hint: expect.stringContaining('relay: false'),
    });
    expect(s.state).toBe('failed');
  } finally {
    await sup.stopAll();
    rmSync(dir, { recursive: true, force: true });
  }
});
