import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Supervisor } from '../../core/supervisor/Supervisor.js';
import type { ServiceSupervisor } from '../../core/supervisor/ServiceSupervisor.js';
import { resolve } from '../helpers/hub.js';
import { freePort, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer, hasKcat, hasPostgres, hasSshd } from '../helpers/peers.js';
import { waitUntil } from '../helpers/procs.js';
import { sshConnection, startSshd, type SshdPeer } from '../helpers/sshd.js';
import { startPostgres, type PostgresPeer } from '../helpers/postgres.js';
import { startKafkaMock } from '../helpers/kafka.js';

// Real peers only: OpenSSH sshd + ssh client for the tunnel, PostgreSQL 15 with scram auth, a real
// HTTP server, and librdkafka's mock Kafka broker through kcat. No client library is mocked.

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-health-'));
process.env.LOCALPORT_STATE_DIR = dir;
let sshd: SshdPeer | undefined;
const sups: Supervisor[] = [];

afterEach(async () => {
  await Promise.all(sups.splice(0).map((s) => s.stopAll()));
});
afterAll(async () => {
  await sshd?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const fast = { interval: 0.2, timeout: 1, failure_threshold: 2 };

/** Services tunnelled through the sshd to 127.0.0.1:<remote_port>. */
async function supervise(services: { name: string; remote: number; health: Record<string, unknown>; restart?: Record<string, unknown> }[]) {
  sshd ??= await startSshd();
  const raw = {
    services: await Promise.all(
      services.map(async (s) => ({
        name: s.name,
        technology: 'ssh',
        local_port: await freePort(),
        remote_port: s.remote,
        connection: { ...sshConnection(sshd!), remote_host: '127.0.0.1' },
        health_check: { ...fast, ...s.health },
        restart_policy: { initial_delay: 0.1, backoff_multiplier: 2, jitter: 0, reset_after: 1, ...s.restart },
      })),
    ),
  };
  const { hub, config } = await resolve(raw);
  const sup = new Supervisor(hub);
  sups.push(sup);
  return { hub, sup, svcs: config.services.map((c) => sup.add(c)) };
}

const started = async (s: ServiceSupervisor) => {
  await s.start();
  return s;
};

describeWithPeer('OpenSSH sshd + PostgreSQL', hasSshd && hasPostgres, 'postgres check through an ssh tunnel', () => {
  let pg: PostgresPeer;
  beforeAll(async () => {
    pg = await startPostgres('pg-secret-pw');
  }, 30000);
  afterAll(() => pg?.stop());

  it('is healthy with the right password, unhealthy with growing restart delays while PostgreSQL is down, healthy again after', async () => {
    const { hub, svcs } = await supervise([{ name: 'db', remote: pg.port, health: { type: 'postgres', config: { user: 'postgres', password: pg.password } } }]);
    const delays: number[] = [];
    hub.hooks.beforeRestart.tap('test', (_s, info) => {
      delays.push(info.delay);
    });
    const failuresAtUnhealthy: number[] = [];
    hub.hooks.healthChanged.tap('test', (c) => {
      if (!c.healthy) failuresAtUnhealthy.push(db.health.status().consecutiveFailures);
    });
    const db = await started(svcs[0]);
    await db.whenHealthy();
    expect(db.status().health).toMatchObject({ state: 'healthy', type: 'postgres', consecutiveFailures: 0 });

    await pg.stopServer();
    await waitUntil(() => delays.length >= 3, 15000, 'three health-driven restarts');
    // Unhealthy exactly at the threshold, every time; each restart waited longer than the one before.
    expect(failuresAtUnhealthy.slice(0, 3)).toEqual([2, 2, 2]);
    expect(delays.slice(0, 3)).toEqual([0.1, 0.2, 0.4]);
    // ssh printed why the connection through the tunnel failed: PostgreSQL is down behind it.
    expect(db.lastError).toMatch(new RegExp(`health check postgres failed 2 times: the target behind the tunnel refused the connection \\(127\\.0\\.0\\.1:${pg.port}\\)`));
    expect(['service_down', 'unreachable']).toContain(db.health.status().kind);

    await pg.startServer();
    await waitUntil(() => db.health.state === 'healthy', 15000, 'healthy again');
    const restarts = db.restarts;
    // The counter settles: no more restarts, and the attempts are forgiven after reset_after (1 s).
    await waitUntil(() => db.attempts === 0, 3000, 'attempts reset');
    expect(db.restarts).toBe(restarts);
    expect(db.state).toBe('ready');
  }, 40000);

  it('reports a wrong password as auth rejected with the PostgreSQL code, and fails the service with no restart and no second login', async () => {
    const before = pg.failedLogins();
    const { svcs } = await supervise([{ name: 'db', remote: pg.port, health: { type: 'postgres', config: { user: 'postgres', password: 'wrong' } } }]);
    const db = await started(svcs[0]);
    await waitUntil(() => db.state === 'failed', 5000, 'failed');
    await new Promise((r) => setTimeout(r, 1000)); // five more check intervals
    // Failed, it has no tunnel to check: health unknown, the rejection kept as the last check's word.
    expect(db.status().health).toMatchObject({ state: 'unknown', kind: 'auth_rejected', code: '28P01' });
    expect(db.health.status().message).toMatch(/password authentication failed/);
    expect(db.lastError).toMatch(/^the postgres check's credentials were rejected \(postgres: 28P01 password authentication failed for user "postgres"\); not retried/);
    expect(db.restarts).toBe(0);
    expect(db.pid).toBeNull();
    expect(pg.failedLogins() - before).toBe(1);
  });

  it('tells a missing database apart (3D000)', async () => {
    const { svcs } = await supervise([{ name: 'db', remote: pg.port, health: { type: 'postgres', failure_threshold: 1, config: { user: 'postgres', password: pg.password, database: 'nope' } } }]);
    const db = await started(svcs[0]);
    await waitUntil(() => db.health.status().code === '3D000', 5000, '3D000');
  });
});

describeWithPeer('OpenSSH sshd', hasSshd, 'http check through an ssh tunnel', () => {
  let web: HttpPeer;
  beforeAll(async () => {
    web = await startHttpServer('ok');
  });
  afterAll(() => web?.close());

  it('is healthy on 200 and unhealthy on 503 when 200 is expected', async () => {
    const { svcs, hub } = await supervise([{ name: 'api', remote: web.port, health: { type: 'http', failure_threshold: 1, config: { expected_status: 200 } }, restart: { enabled: false } }]);
    // The verdict as it flips: with no restart allowed the service fails right after, and its health is
    // unknown from then on (no tunnel); the last check's word stays in the status.
    const verdicts: boolean[] = [];
    hub.hooks.healthChanged.tap('test', (c) => void verdicts.push(c.healthy));
    const api = await started(svcs[0]);
    await api.whenHealthy();
    web.status = 503;
    try {
      await waitUntil(() => verdicts.includes(false), 3000, 'unhealthy on 503');
      expect(api.health.status()).toMatchObject({ kind: 'service_down', code: '503' });
      expect(api.health.status().message).toMatch(/answered 503, expected 200/);
    } finally {
      web.status = 200;
    }
  });

  it.each([401, 403])('takes %i as refused credentials: the service fails at the first one, with no restart', async (code) => {
    web.status = code;
    try {
      const { svcs } = await supervise([{ name: 'api', remote: web.port, health: { type: 'http', failure_threshold: 3 } }]);
      const api = await started(svcs[0]);
      await waitUntil(() => api.state === 'failed', 3000, 'failed');
      expect(api.health.status()).toMatchObject({ state: 'unknown', kind: 'auth_rejected', code: String(code), consecutiveFailures: 1 });
      expect(api.lastError).toMatch(new RegExp(`^the http check's credentials were rejected \\(GET http://localhost:\\d+/ answered ${code}, expected "200-399"\\); not retried`));
      expect(api.restarts).toBe(0);
      expect(api.pid).toBeNull();
    } finally {
      web.status = 200;
    }
  });

  it('cuts a hanging check at its timeout without delaying another service\'s checks', async () => {
    // A real server that accepts and never answers.
    const hang = http.createServer(() => {});
    await new Promise<void>((r) => hang.listen(0, '127.0.0.1', r));
    try {
      const { hub, svcs } = await supervise([
        { name: 'slow', remote: (hang.address() as AddressInfo).port, health: { type: 'http', interval: 0.2, timeout: 1, failure_threshold: 1 }, restart: { enabled: false } },
        { name: 'quick', remote: web.port, health: { type: 'http', interval: 0.2, timeout: 1 } },
      ]);
      // slow's verdict as it flips: with no restart allowed it fails right after (health unknown then).
      let slowUnhealthy = false;
      hub.hooks.healthChanged.tap('test', (c) => void (c.service.name === 'slow' && !c.healthy && (slowUnhealthy = true)));
      const [slow, quick] = await Promise.all(svcs.map(started));
      const checks: number[] = [];
      const t0 = Date.now();
      const runCheck = quick.health.runCheck.bind(quick.health);
      quick.health.runCheck = async () => {
        const r = await runCheck();
        checks.push(Date.now() - t0);
        return r;
      };
      await waitUntil(() => slowUnhealthy, 4000, 'slow unhealthy');
      const elapsed = Date.now() - t0;
      expect(slow.health.status()).toMatchObject({ kind: 'timeout' });
      expect(slow.health.status().message).toBe('http check gave no answer within 1 s');
      // ~1 s for the hung check; meanwhile quick was checked on its own 0.2 s schedule.
      expect(elapsed).toBeGreaterThanOrEqual(900);
      expect(checks.filter((t) => t < 1000).length).toBeGreaterThanOrEqual(3);
      expect(quick.health.state).toBe('healthy');
      void hub;
    } finally {
      hang.closeAllConnections();
      hang.close();
    }
  });
});

describeWithPeer('OpenSSH sshd + kcat', hasSshd && hasKcat, 'kafka check against the librdkafka mock through an ssh tunnel', () => {
  it('reports bootstrap through the tunnel and whether the advertised brokers are reachable; unhealthy once the broker dies', async () => {
    const kafka = await startKafkaMock();
    try {
      const { svcs, hub } = await supervise([{ name: 'kafka', remote: kafka.port, health: { type: 'kafka', interval: 0.3, timeout: 2, failure_threshold: 1 }, restart: { enabled: false } }]);
      // The verdict as it flips (the service fails right after, with no restart allowed: health unknown then).
      const verdicts: boolean[] = [];
      hub.hooks.healthChanged.tap('test', (c) => void verdicts.push(c.healthy));
      const k = await started(svcs[0]);
      await k.whenHealthy();
      const h = k.health.status();
      expect(h.message).toMatch(new RegExp(`^bootstrap through localhost:${k.service.localPort} OK; advertised brokers reachable$`));
      expect(h.details).toEqual({ bootstrap: 'ok', advertised: [{ broker: kafka.broker, reachable: true }] });
      await kafka.stop();
      await waitUntil(() => verdicts.includes(false), 8000, 'unhealthy after the broker died');
      // The broker behind the tunnel is gone: ssh says its connection was refused there.
      expect(k.health.status().message).toMatch(/^the target behind the tunnel refused the connection \(127\.0\.0\.1:\d+\)/);
    } finally {
      await kafka.stop();
    }
  }, 20000);
});

describe('health check classification', () => {
  it('maps pg error codes to failure kinds', async () => {
    const { classifyPgError } = await import('../../plugins/health-postgres/index.js');
    expect(classifyPgError({ code: '28P01' })).toBe('auth_rejected');
    expect(classifyPgError({ code: '28000' })).toBe('auth_rejected');
    expect(classifyPgError({ code: '3D000' })).toBe('service_down');
    expect(classifyPgError({ code: 'ECONNREFUSED' })).toBe('unreachable');
    expect(classifyPgError({ code: 'ECONNRESET' })).toBe('service_down');
    expect(classifyPgError({ message: 'Connection terminated unexpectedly' })).toBe('service_down');
    expect(classifyPgError({ message: 'timeout expired' })).toBe('timeout');
  });
});
