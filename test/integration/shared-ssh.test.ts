import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { Supervisor } from '../../core/supervisor/Supervisor.js';
import { resolve } from '../helpers/hub.js';
import { freePort, httpGet, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer, hasSshd } from '../helpers/peers.js';
import { alive, processesMatching, waitUntil } from '../helpers/procs.js';
import { jumpConnection, sshConnection, startJumpPair, startSshd, type JumpPair, type SshdPeer } from '../helpers/sshd.js';

// Real OpenSSH: /usr/sbin/sshd on 127.0.0.1 (default limits), the system ssh client as the master, and real
// HTTP servers behind the tunnel. Services to one endpoint share one master (ControlMaster); their forwards
// are added and removed over its control socket (mux protocol).

describeWithPeer('OpenSSH sshd', hasSshd, 'ssh services share one master connection per endpoint', () => {
  let sshd: SshdPeer;
  let web: HttpPeer;
  let other: HttpPeer;
  let echo: net.Server;
  let echoPort: number;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-shared-'));
  let sup: Supervisor | undefined;

  beforeAll(async () => {
    process.env.LOCALPORT_STATE_DIR = dir;
    [sshd, web, other] = await Promise.all([startSshd(), startHttpServer('web'), startHttpServer('other')]);
    // Echoes what it reads: a long-lived connection through a forward, to see whether it is ever cut.
    echo = net.createServer((socket) => socket.pipe(socket));
    await new Promise<void>((r) => echo.listen(0, '127.0.0.1', r));
    echoPort = (echo.address() as net.AddressInfo).port;
  });
  afterEach(async () => {
    await sup?.stopAll();
    sup = undefined;
  });
  afterAll(async () => {
    await Promise.all([sshd?.stop(), web?.close(), other?.close(), new Promise((r) => echo?.close(r))]);
    rmSync(dir, { recursive: true, force: true });
  });

  const echoService = () => ({ remote_port: echoPort, health_check: { type: 'tcp', interval: 0.2 } });
  const masters = () => processesMatching(`ControlPath=`).filter((p) => p.cmd.includes(`-p ${sshd.port} `) && p.cmd.startsWith('ssh '));

  async function services(n: number, over: (i: number) => Record<string, unknown> = () => ({}), connection: Record<string, unknown> = {}) {
    const ports = await Promise.all(Array.from({ length: n }, () => freePort()));
    const raw = ports.map((p, i) => ({
      name: `svc${i}`,
      technology: 'ssh',
      local_port: p,
      remote_port: web.port,
      connection: { ...sshConnection(sshd), remote_host: '127.0.0.1', ...connection },
      health_check: { type: 'http', interval: 0.2, failure_threshold: 2, config: { path: '/' } },
      ...over(i),
    }));
    const { hub, config } = await resolve({ services: raw });
    sup = new Supervisor(hub);
    const s = config.services.map((d) => sup!.add(d));
    return { s, ports, raw, hub };
  }

  it('carries every service on one master: one TCP connection and one login to sshd', async () => {
    const before = sshd.connections();
    const { s, ports } = await services(5);
    await Promise.all(s.map((x) => x.start()));
    for (const p of ports) expect(await httpGet(p)).toBe('web');
    expect(sshd.connections() - before).toBe(1);
    expect(masters()).toHaveLength(1);
    const conns = s.map((x) => x.status().connection!);
    expect(new Set(conns.map((c) => c.id)).size).toBe(1);
    expect(conns[0]).toMatchObject({ label: `${sshd.user}@127.0.0.1:${sshd.port}`, pid: masters()[0].pid, restarts: 0, services: 5 });
    expect(s.every((x) => x.pid === masters()[0].pid)).toBe(true);
    // No ssh process per service: the master is the only ssh LocalPort runs.
    expect(processesMatching(`.sock:127.0.0.1:${web.port}`)).toHaveLength(0);
    const pid = masters()[0].pid;
    // The stop resolves once the master is gone with the last service.
    await sup!.stopAll();
    expect(alive(pid)).toBe(false);
  });

  it('share_connection: false runs the service on a connection of its own', async () => {
    const { s, ports } = await services(2, (i) => (i === 1 ? { share_connection: false } : {}));
    await Promise.all(s.map((x) => x.start()));
    for (const p of ports) expect(await httpGet(p)).toBe('web');
    expect(s[0].status().connection).not.toBeNull();
    expect(s[1].status().connection).toBeNull();
    expect(s[0].pid).not.toBe(s[1].pid);
    const own = processesMatching(`.sock:127.0.0.1:${web.port}`);
    expect(own).toHaveLength(1);
    expect(own[0].cmd).toContain('ControlPath=none');
  });

  it('stopping one service cancels its forward only; the others keep their master and connections', async () => {
    const { s, ports } = await services(3, (i) => (i === 1 ? echoService() : {}));
    await Promise.all(s.map((x) => x.start()));
    const pid = s[0].pid!;
    const keep = await openEcho(ports[1]);
    await sup!.stop('svc0');
    await expect(httpGet(ports[0], '127.0.0.1', 300)).rejects.toThrow();
    expect(s[1].pid).toBe(pid);
    expect(await keep.ask('still there?')).toBe('still there?');
    expect(await httpGet(ports[2])).toBe('web');
    expect(s[1].status().connection!.services).toBe(2);
    keep.close();
  });

  it('a hot reload of one of them adds and cancels one forward: the others keep master, login and connections', async () => {
    const { s, ports, raw } = await services(4, (i) => (i === 2 ? echoService() : {}));
    await Promise.all(s.map((x) => x.start()));
    const pid = s[0].pid!;
    const logins = sshd.connections();
    const keep = await openEcho(ports[2]);
    const { config } = await resolve({ services: raw.map((r, i) => (i === 1 ? { ...r, remote_port: other.port } : r)) });
    const { started } = await sup!.replace(config.services.find((d) => d.name === 'svc1')!);
    await started;
    expect(await httpGet(ports[1])).toBe('other');
    expect(sup!.services.get('svc1')!.pid).toBe(pid);
    expect(sshd.connections()).toBe(logins);
    expect(await keep.ask('still there?')).toBe('still there?');
    expect(masters()).toHaveLength(1);
    expect(sup!.services.get('svc0')!.status().connection!.services).toBe(4);
    keep.close();
  });

  it('when the master dies, every service on it restarts together on a new one; new connections are held, not refused', async () => {
    const { s, ports } = await services(4);
    await Promise.all(s.map((x) => x.start()));
    const pid = s[0].pid!;
    process.kill(pid, 'SIGKILL');
    // Asked at once: the fronts hold these until the new master's forwards are up.
    const answers = await Promise.all(ports.map((p) => httpGet(p, '127.0.0.1', 5000)));
    expect(answers).toEqual(['web', 'web', 'web', 'web']);
    await waitUntil(() => s.every((x) => x.state === 'ready'), 5000, 'all ready again');
    const pids = new Set(s.map((x) => x.pid));
    expect(pids.size).toBe(1);
    expect(pids.has(pid)).toBe(false);
    expect(s.map((x) => x.restarts)).toEqual([1, 1, 1, 1]);
    expect(s[0].status().connection).toMatchObject({ restarts: 1, services: 4 });
    expect(masters()).toHaveLength(1);
  });

  it('counts the services waiting to restart on a dead master as its services, not 0', async () => {
    // A restart delayed long enough to look at: both services wait for the connection meanwhile.
    const { s } = await services(2, () => ({ restart_policy: { initial_delay: 30, jitter: 0 } }));
    await Promise.all(s.map((x) => x.start()));
    expect(s[0].status().connection!.services).toBe(2);
    process.kill(s[0].pid!, 'SIGKILL');
    await waitUntil(() => s.every((x) => x.state === 'restarting'), 5000, 'both restarting');
    expect(s.map((x) => x.status().connection!.services)).toEqual([2, 2]);
    // A stopped one is not its any more; the one still waiting is.
    await sup!.stop('svc0');
    expect(s[1].status().connection!.services).toBe(1);
  });

  it('a master whose control socket was deleted is replaced when a forward cannot be added; every service comes back on the new one', async () => {
    const { s, ports, raw } = await services(3);
    await Promise.all(s.map((x) => x.start()));
    const pid = s[0].pid!;
    const control = /ControlPath=(\S+)/.exec(masters().find((m) => m.pid === pid)!.cmd)![1];
    rmSync(control);
    // A change to one service needs a new forward on the master: it cannot be reached any more.
    const { config } = await resolve({ services: raw.map((r, i) => (i === 0 ? { ...r, remote_port: other.port } : r)) });
    await sup!.replace(config.services[0]);
    await waitUntil(() => [...sup!.services.values()].every((x) => x.state === 'ready' && x.pid !== pid && x.pid !== null), 8000, 'all ready on a new master');
    expect(alive(pid)).toBe(false);
    expect(await httpGet(ports[0])).toBe('other');
    expect(await httpGet(ports[2])).toBe('web');
    expect(masters()).toHaveLength(1);
  });

  it('a target behind the tunnel that refuses fails only its own service, named as such', async () => {
    const closed = await freePort();
    // The default check (tcp), which sends nothing: the tunnel's close at once says the target refused.
    const { s, ports } = await services(3, (i) => (i === 0 ? { remote_port: closed, health_check: { type: 'tcp', interval: 0.2, failure_threshold: 2 } } : {}));
    await Promise.all(s.map((x) => x.start()));
    const pid = s[1].pid!;
    await waitUntil(() => /target behind the tunnel refused/.test(s[0].status().health?.message ?? ''), 5000, 'the refusal named');
    expect(s[0].status().health!.message).toContain(`the target behind the tunnel refused the connection (127.0.0.1:${closed})`);
    // Its failures restart its own forward, never the master the others ride on.
    await waitUntil(() => s[0].restarts >= 1, 5000, 'svc0 restarted');
    expect(s[1].pid).toBe(pid);
    expect(s[1].restarts + s[2].restarts).toBe(0);
    expect(await httpGet(ports[1])).toBe('web');
  });

  it('services that all restart at once (every target refuses) keep their master: no new login per round', async () => {
    const closed = await freePort();
    const before = sshd.connections();
    const { s } = await services(2, () => ({ remote_port: closed, restart_policy: { initial_delay: 0.1, jitter: 0 } }));
    await Promise.all(s.map((x) => x.start()));
    const pid = s[0].pid!;
    await waitUntil(() => s.every((x) => x.restarts >= 2), 8000, 'both restarted twice');
    expect(sshd.connections() - before).toBe(1);
    expect(alive(pid)).toBe(true);
  });

  it('a master that stops answering on its control socket (SIGSTOP) is replaced; its services come back on a new one', async () => {
    const { s, ports } = await services(2);
    await Promise.all(s.map((x) => x.start()));
    const pid = s[0].pid!;
    process.kill(pid, 'SIGSTOP');
    try {
      // Asked every 10 s, 3 s to answer; then replaced (SIGTERM does nothing to a stopped process: SIGKILL after 2 s).
      await waitUntil(() => s.every((x) => x.state === 'ready' && x.pid !== null && x.pid !== pid), 25000, 'both on a new master');
    } finally {
      if (alive(pid)) process.kill(pid, 'SIGCONT');
    }
    expect(await httpGet(ports[0])).toBe('web');
    expect(alive(pid)).toBe(false);
  }, 35000);

  it('its private directory removed (a tmp cleaner), a master killed later comes back: the directory is made again', async () => {
    const { s, ports } = await services(2);
    await Promise.all(s.map((x) => x.start()));
    const pid = s[0].pid!;
    const control = /ControlPath=(\S+)/.exec(masters().find((m) => m.pid === pid)!.cmd)![1];
    rmSync(path.dirname(control), { recursive: true, force: true });
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => s.every((x) => x.state === 'ready' && x.pid !== pid && x.pid !== null), 8000, 'both on a new master');
    expect(await httpGet(ports[1])).toBe('web');
  });

  it('a refused key is tried once for all the services on the endpoint, and fails each', async () => {
    const wrong = path.join(dir, 'wrong_key');
    if (!existsSync(wrong)) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrong]);
    const before = sshd.connections();
    const { s } = await services(5, () => ({}), { key_file: wrong });
    const results = await Promise.allSettled(s.map((x) => x.start()));
    expect(results.every((r) => r.status === 'rejected')).toBe(true);
    for (const x of s) {
      expect(x.state).toBe('failed');
      expect(x.lastError).toMatch(/authentication refused/);
    }
    expect(sshd.connections() - before).toBe(1);
    expect(masters()).toHaveLength(0);
  });

  it('a server that drops the handshake is asked once per round for all the services on the endpoint, not once per service', async () => {
    // Not sshd: a TCP server that closes every connection at once, as sshd's MaxStartups does when it
    // sheds one. ssh calls that transient, so each service retries under its policy.
    let accepted = 0;
    const dropper = net.createServer((socket) => {
      accepted += 1;
      socket.destroy();
    });
    await new Promise<void>((r) => dropper.listen(0, '127.0.0.1', r));
    try {
      const { s } = await services(3, () => ({ restart_policy: { initial_delay: 0.2, jitter: 0 } }), { port: (dropper.address() as net.AddressInfo).port });
      for (const x of s) void x.start().catch(() => {});
      await waitUntil(() => s.every((x) => x.state === 'restarting'), 3000, 'all three retrying');
      expect(s[0].lastError).toMatch(/dropped the connection during the handshake/);
      // One failed start answers every service for 1 s: their retries within it ask nobody.
      await new Promise((r) => setTimeout(r, 700));
      expect(accepted).toBe(1);
    } finally {
      await sup?.stopAll();
      await new Promise((r) => dropper.close(r));
    }
  });

});

/** One long-lived connection through a front to the echo server: asks again on the same socket (a cut shows as an error). */
async function openEcho(port: number): Promise<{ ask(text: string): Promise<string>; close(): void }> {
  const socket = net.connect({ host: '127.0.0.1', port });
  await new Promise<void>((resolve, reject) => socket.once('connect', resolve).once('error', reject));
  let closed: Error | undefined;
  socket.on('error', (e) => (closed = e));
  socket.on('close', () => (closed ??= new Error('the connection was closed')));
  const ask = (text: string) =>
    new Promise<string>((resolve, reject) => {
      if (closed) return reject(closed);
      let data = '';
      const onData = (chunk: Buffer) => {
        data += chunk.toString('utf8');
        if (data.length >= text.length) {
          socket.off('data', onData);
          resolve(data);
        }
      };
      socket.on('data', onData);
      socket.once('close', () => reject(closed));
      socket.write(text);
    });
  expect(await ask('hello')).toBe('hello');
  return { ask, close: () => socket.destroy() };
}

// Two real sshd: a bastion and a host behind it (both on loopback; "behind" is checked by who owns the
// TCP connection to the host: the bastion's sshd session, see startJumpPair). The services share one master
// that jumps through the bastion with the same key, known_hosts file and strict checking.
describeWithPeer('OpenSSH sshd', hasSshd, 'services behind a bastion share one master through the jump', () => {
  let pair: JumpPair;
  let web: HttpPeer;
  let other: HttpPeer;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-shared-jump-'));
  let sup: Supervisor | undefined;
  const user = os.userInfo().username;

  beforeAll(async () => {
    process.env.LOCALPORT_STATE_DIR = dir;
    [pair, web, other] = await Promise.all([startJumpPair(), startHttpServer('behind'), startHttpServer('other')]);
  });
  afterEach(async () => {
    await sup?.stopAll();
    sup = undefined;
  });
  afterAll(async () => {
    await Promise.all([pair?.stop(), web?.close(), other?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('one login to the bastion and one to the host for every service; master death and a reload handled as on a direct endpoint', async () => {
    const ports = await Promise.all([1, 2, 3, 4].map(() => freePort()));
    const connection = jumpConnection(pair, user);
    const raw = ports.map((p, i) => ({ name: `b${i}`, technology: 'ssh', local_port: p, remote_port: web.port, connection, restart_policy: { initial_delay: 0.1 } }));
    const { hub, config } = await resolve({ services: raw });
    sup = new Supervisor(hub);
    const s = config.services.map((d) => sup!.add(d));
    const [bastionBefore, targetBefore] = [pair.bastion.connections(), pair.target.connections()];
    await Promise.all(s.map((x) => x.start()));
    for (const p of ports) expect(await httpGet(p)).toBe('behind');
    expect([pair.bastion.connections() - bastionBefore, pair.target.connections() - targetBefore]).toEqual([1, 1]);
    expect(pair.viaBastion()).toEqual({ bastion: 1, direct: 0 });
    expect(new Set(s.map((x) => x.pid)).size).toBe(1);

    // The master dies: all four come back together on one new master, through the bastion again.
    const pid = s[0].pid!;
    process.kill(pid, 'SIGKILL');
    const answers = await Promise.all(ports.map((p) => httpGet(p, '127.0.0.1', 8000)));
    expect(answers).toEqual(['behind', 'behind', 'behind', 'behind']);
    await waitUntil(() => s.every((x) => x.state === 'ready'), 8000, 'all ready again');
    expect(new Set(s.map((x) => x.pid)).size).toBe(1);
    expect(s[0].pid).not.toBe(pid);
    await waitUntil(() => pair.viaBastion().bastion === 1, 3000, 'the old session to the host gone');
    expect(pair.viaBastion()).toEqual({ bastion: 1, direct: 0 });

    // A reload of one: its forward only; no new login anywhere.
    const newPid = s[0].pid!;
    const logins = [pair.bastion.connections(), pair.target.connections()];
    const { config: changed } = await resolve({ services: raw.map((r, i) => (i === 3 ? { ...r, remote_port: other.port } : r)) });
    await (await sup!.replace(changed.services[3])).started;
    expect(await httpGet(ports[3])).toBe('other');
    expect(await httpGet(ports[0])).toBe('behind');
    expect(sup!.services.get('b3')!.pid).toBe(newPid);
    expect([pair.bastion.connections(), pair.target.connections()]).toEqual(logins);
  }, 40000);
});
