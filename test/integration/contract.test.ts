import { mkdtempSync, rmSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { configObject, definePlugin, hostname, type LocalPortPlugin, type ServiceState, type StreamForwardSpec } from '../../core/index.js';
import type { ServiceSupervisor } from '../../core/supervisor/ServiceSupervisor.js';
import { Supervisor } from '../../core/supervisor/Supervisor.js';
import { resolve } from '../helpers/hub.js';
import { freePort, httpGet } from '../helpers/net.js';
import { describeWithPeer, hasSocat, hasSshd } from '../helpers/peers.js';
import { waitUntil } from '../helpers/procs.js';
import { sshConnection, startSshd, type SshdPeer } from '../helpers/sshd.js';

// One contract for every kind of technology (issue #12, acceptance 4): readiness, health through the
// upstream, restart after the upstream disappears, traffic metrics. It runs against the built-in `tcp`
// technology, a third-party in-process technology written here with the public API only, and two
// process technologies: ssh through a real OpenSSH sshd, and exec running socat. A real HTTP server is
// the service behind each.

const BODY = 'served under contract';

/** A real HTTP server on 127.0.0.1 that can go away and come back on the same port. */
interface Web {
  readonly port: number;
  open(): Promise<void>;
  close(): Promise<void>;
}

async function startWeb(): Promise<Web> {
  const server = http.createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/plain', connection: 'close' });
    res.end(BODY);
  });
  let port = 0;
  const web: Web = {
    get port() {
      return port;
    },
    open: () =>
      new Promise<void>((ok, fail) => {
        server.once('error', fail);
        server.listen(port, '127.0.0.1', () => {
          server.off('error', fail);
          port = (server.address() as net.AddressInfo).port;
          ok();
        });
      }),
    close: () =>
      new Promise<void>((ok) => {
        if (!server.listening) return ok();
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
  await web.open();
  return web;
}

/**
 * What a third-party author writes for an in-process technology: a plugin from the public API
 * (core/index.ts) whose forward opens one plain TCP connection per client connection. No `ready`,
 * no `explainError`: core's defaults must do.
 */
const netHopPlugin = (): LocalPortPlugin =>
  definePlugin({
    name: 'test:net-hop',
    apply(api) {
      api.registerTechnology<{ host: string }>({
        type: 'net-hop',
        connectionSchema: configObject({ host: hostname() }),
        describeTarget: (s) => `${s.connection.host}:${s.remotePort}`,
        createForward: (s): StreamForwardSpec => ({
          connect: (signal) =>
            new Promise((ok, fail) => {
              const socket = net.connect({ host: s.connection.host, port: s.remotePort, signal });
              socket.once('error', fail);
              socket.once('connect', () => {
                socket.off('error', fail);
                ok(socket);
              });
            }),
        }),
      });
    },
  });

/**
 * One technology under the contract. `down` makes the upstream disappear while LocalPort's front keeps
 * listening: for an in-process forward the target server closes; for a process the tunnel is killed
 * with -9. `back` undoes what a process's restart does not undo by itself.
 */
interface Subject {
  name: string;
  kind: 'in-process' | 'process';
  /** The peer the subject needs, and whether this machine has it (describeWithPeer skips or fails). */
  peer: string;
  available: boolean;
  plugins: LocalPortPlugin[];
  entry(web: Web): Record<string, unknown>;
}

let sshd: SshdPeer | undefined;

const subjects: Subject[] = [
  { name: 'tcp (built-in, in-process)', kind: 'in-process', peer: 'node', available: true, plugins: [], entry: (web) => ({ technology: 'tcp', remote_port: web.port, connection: { host: '127.0.0.1' } }) },
  { name: 'net-hop (third-party plugin, in-process)', kind: 'in-process', peer: 'node', available: true, plugins: [netHopPlugin()], entry: (web) => ({ technology: 'net-hop', remote_port: web.port, connection: { host: '127.0.0.1' } }) },
  {
    name: 'ssh (process, real sshd)',
    kind: 'process',
    peer: 'OpenSSH sshd',
    available: hasSshd,
    plugins: [],
    entry: (web) => ({ technology: 'ssh', remote_port: web.port, connection: { ...sshConnection(sshd!), remote_host: '127.0.0.1' } }),
  },
  {
    name: 'exec running socat (process)',
    kind: 'process',
    peer: 'socat',
    available: hasSocat,
    plugins: [],
    entry: (web) => ({
      technology: 'exec',
      remote_port: web.port,
      // Listens where LocalPort says ({bindAddress}:{localPort} is the internal endpoint behind the front).
      connection: { command: 'socat', args: ['TCP-LISTEN:{localPort},bind={bindAddress},reuseaddr,fork', 'TCP:127.0.0.1:{remotePort}'] },
    }),
  },
];

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-contract-'));
let web: Web;
beforeAll(async () => {
  process.env.LOCALPORT_STATE_DIR = dir;
  [web, sshd] = await Promise.all([startWeb(), hasSshd ? startSshd() : undefined]);
});
afterAll(async () => {
  await Promise.all([web?.close(), sshd?.stop()]);
  rmSync(dir, { recursive: true, force: true });
});

describe.each(subjects)('technology $name', (subject) => {
  describeWithPeer(subject.peer, subject.available, `the contract (${subject.kind})`, () => {
    let sup: Supervisor | undefined;
    afterEach(async () => {
      await sup?.stopAll();
      sup = undefined;
      // A test that took the upstream away gives it back for the next one.
      await web.close();
      await web.open();
    });

    /**
     * One service of this technology, on a free local port, with the default bind address (dual stack).
     * Health timings come from `defaults`: a service without its own health_check gets the default check (tcp).
     */
    async function service(timings: Record<string, unknown>, over: Record<string, unknown> = {}): Promise<{ s: ServiceSupervisor; local: number; states: string[] }> {
      const local = await freePort();
      const raw = { defaults: { health_check: { timeout: 1, ...timings } }, services: [{ name: 'svc', local_port: local, ...subject.entry(web), ...over }] };
      const { hub, config } = await resolve(raw, {}, subject.plugins);
      const states: string[] = [];
      hub.hooks.stateChanged.tap('contract', (c: { from: ServiceState; to: ServiceState }) => void states.push(`${c.from}→${c.to}`));
      sup = new Supervisor(hub);
      return { s: sup.add(config.services[0]), local, states };
    }

    /** The upstream goes away while the front keeps listening. */
    async function takeUpstreamAway(s: ServiceSupervisor): Promise<void> {
      if (subject.kind === 'in-process') return web.close();
      process.kill(s.pid!, 'SIGKILL');
    }

    const accepts = (port: number, host: string) =>
      new Promise<boolean>((r) => {
        const c = net.connect(port, host);
        c.once('connect', () => {
          c.destroy();
          r(true);
        });
        c.once('error', () => r(false));
      });

    it('readiness: start() resolves in state ready, and the very first request through the local port is answered', async () => {
      const { s, local } = await service({});
      await s.start();
      expect(s.state).toBe('ready');
      expect(s.status()).toMatchObject({ state: 'ready', relay: true });
      // No retry, no wait: ready means served.
      expect(await httpGet(local, '127.0.0.1', 5000)).toBe(BODY);
      expect(await httpGet(local, '::1', 5000)).toBe(BODY);
    });

    describe.each([
      { check: 'tcp', over: {} },
      { check: 'http', over: { health_check: { type: 'http', config: { path: '/', body_match: 'under contract' } } } },
    ])('health ($check check)', ({ check, over }) => {
      it('passes through the tunnel', async () => {
        const { s } = await service({ interval: 0.1, failure_threshold: 2 }, over);
        await s.start();
        await s.whenHealthy();
        expect(s.status().health).toMatchObject({ state: 'healthy', type: check, consecutiveFailures: 0 });
        expect(await s.health.runCheck()).toMatchObject({ ok: true });
      });

      it('fails when the upstream has disappeared, although the front still accepts', async () => {
        // The monitor checks rarely and a restart waits long: the test runs the check itself, while the
        // upstream is gone.
        const { s, local } = await service({ interval: 60 }, { ...over, restart_policy: { initial_delay: 30, jitter: 0 } });
        await s.start();
        expect(await s.health.runCheck()).toMatchObject({ ok: true });
        await takeUpstreamAway(s);
        if (subject.kind === 'process') await waitUntil(() => s.state === 'restarting', 3000, 'the service restarting');
        else expect(s.state).toBe('ready'); // nothing tells core the target is gone but the check
        expect(await accepts(local, '127.0.0.1')).toBe(true);
        expect(await accepts(local, '::1')).toBe(true);
        const result = await s.health.runCheck();
        expect(result.ok).toBe(false);
        expect(result.kind).toMatch(/^(unreachable|timeout|protocol)$/);
      });
    });

    it('restarts after the upstream disappears, and keeps its traffic counts across the restart', async () => {
      const N = 6;
      const { s, local, states } = await service({ interval: 0.1, failure_threshold: 2 }, { restart_policy: { initial_delay: 0.1, max_delay: 0.3, jitter: 0 } });
      await s.start();
      await s.whenHealthy();

      // Metrics: every request is a new connection (agent: false), answered in full.
      for (let i = 0; i < N; i++) expect(await httpGet(local, i % 2 ? '::1' : '127.0.0.1', 5000)).toBe(BODY);
      await waitUntil(() => s.status().traffic!.active === 0, 2000, 'no connection active');
      const before = s.status().traffic!;
      // Health checks go to the upstream, not through the front: they are not the users' traffic.
      expect(before).toMatchObject({ total: N, active: 0, held: 0, timedOut: 0, cut: 0 });
      expect(before.bytesIn).toBeGreaterThan(N * 'GET / HTTP/1.1\r\n'.length);
      expect(before.bytesOut).toBeGreaterThan(N * BODY.length);

      const pid = s.pid;
      await takeUpstreamAway(s);
      // Process: the exit says so. In-process: only the health check can tell (failure_threshold 2).
      await waitUntil(() => states.includes('ready→restarting'), 5000, 'ready → restarting');
      if (subject.kind === 'in-process') {
        // While the target is down, attempts to restart fail and the service keeps restarting.
        await new Promise((r) => setTimeout(r, 500));
        expect(s.state).toBe('restarting');
        await web.open();
      }
      await waitUntil(() => s.state === 'ready', 5000, 'ready again');
      expect(s.restarts).toBeGreaterThanOrEqual(1);
      if (subject.kind === 'process') expect(s.pid).not.toBe(pid);
      expect(await httpGet(local, '127.0.0.1', 5000)).toBe(BODY);
      await s.whenHealthy();

      // Not reset by the restart: the one request since is added to what was counted before.
      await waitUntil(() => s.status().traffic!.active === 0, 2000, 'no connection active');
      const after = s.status().traffic!;
      expect(after.total).toBe(before.total + 1);
      expect(after.bytesIn).toBeGreaterThan(before.bytesIn);
      expect(after.bytesOut).toBeGreaterThanOrEqual(before.bytesOut + BODY.length);
      expect(after.active).toBe(0);
    }, 20000);
  });
});
