import { afterEach, describe, expect, it } from '@jest/globals';
import { configObject, definePlugin } from '../../../core/index.js';
import { HealthMonitor, type HealthVerdict } from '../../../core/supervisor/HealthMonitor.js';
import type { HealthResult } from '../../../core/types.js';
import { fakeTechPlugin } from '../../helpers/fake-tech.js';
import { resolve } from '../../helpers/hub.js';
import { waitUntil } from '../../helpers/procs.js';

// The monitor on its own: it concludes, and whoever listens acts. Nothing here is a supervisor.

/** A check that answers what the test says, counting calls. */
const scripted = { answer: { ok: true } as HealthResult, calls: 0, delayMs: 0 };
const scriptedPlugin = () =>
  definePlugin({
    name: 'test:scripted-check',
    apply(api) {
      api.registerHealthCheck({
        type: 'scripted',
        configSchema: configObject({}),
        async check() {
          scripted.calls += 1;
          if (scripted.delayMs) await new Promise((r) => setTimeout(r, scripted.delayMs));
          return scripted.answer;
        },
      });
    },
  });

let monitors: HealthMonitor[] = [];
afterEach(() => {
  monitors.forEach((m) => m.stop());
  monitors = [];
});

async function monitor(healthCheck: Record<string, unknown>) {
  const { hub, config } = await resolve(
    { services: [{ name: 'a', technology: 'fake', local_port: 1, remote_port: 1, health_check: { type: 'scripted', interval: 0.05, startup_grace: 0, ...healthCheck } }] },
    {},
    [fakeTechPlugin(), scriptedPlugin()],
  );
  const m = new HealthMonitor({ service: config.services[0], upstream: async () => ({ host: '127.0.0.1', port: 1, connect: () => Promise.reject(new Error('not used')) }) }, hub, hub.logger);
  monitors.push(m);
  const verdicts: HealthVerdict[] = [];
  m.onVerdict((v) => verdicts.push(v));
  return { m, hub, verdicts };
}

describe('HealthMonitor verdicts', () => {
  it('keeps the latency of the last completed check (what /metrics exports)', async () => {
    scripted.answer = { ok: true, message: 'fine' };
    scripted.delayMs = 120;
    try {
      const { m, verdicts } = await monitor({});
      expect(m.status().latencyMs).toBeNull();
      m.start();
      await waitUntil(() => verdicts.length === 1, 3000, 'healthy');
      expect(m.status().latencyMs).toBeGreaterThanOrEqual(115);
      expect(m.status().latencyMs).toBeLessThan(1000);
    } finally {
      scripted.delayMs = 0;
    }
  });

  it('says healthy, then unhealthy and restart once failures cross the threshold', async () => {
    scripted.answer = { ok: true, message: 'fine' };
    const { m, verdicts } = await monitor({ failure_threshold: 2 });
    m.start();
    await waitUntil(() => verdicts.length === 1, 3000, 'healthy');
    scripted.answer = { ok: false, kind: 'service_down', message: 'down' };
    await waitUntil(() => verdicts.length === 3, 3000, 'unhealthy and restart');
    expect(verdicts).toEqual([
      { kind: 'healthy', reason: 'fine' },
      { kind: 'unhealthy', reason: 'down' },
      { kind: 'restart', reason: 'health check scripted failed 2 times: down' },
    ]);
    expect(m.status()).toMatchObject({ state: 'unhealthy', consecutiveFailures: 2 });
  });

  it('says fail (AUTH_REJECTED) at the first rejected credentials, and fail (HEALTH_FAILED) when a plugin fails the service', async () => {
    scripted.answer = { ok: false, kind: 'auth_rejected', code: '28P01', message: 'password authentication failed' };
    const rejected = await monitor({ failure_threshold: 3 });
    rejected.m.start();
    await waitUntil(() => rejected.verdicts.length === 2, 3000, 'the fail verdict');
    expect(rejected.verdicts[1]).toMatchObject({ kind: 'fail', code: 'AUTH_REJECTED', reason: expect.stringMatching(/^the scripted check's credentials were rejected \(password authentication failed\)/) });

    scripted.answer = { ok: false, kind: 'timeout', message: 'no answer' };
    const failed = await monitor({ failure_threshold: 1 });
    failed.hub.hooks.healthFailed.tap('test:fail', () => 'fail');
    failed.m.start();
    await waitUntil(() => failed.verdicts.length === 2, 3000, 'the fail verdict');
    expect(failed.verdicts[1]).toEqual({ kind: 'fail', code: 'HEALTH_FAILED', reason: 'health check scripted failed 1 times: no answer (a plugin failed the service)' });
  });

  it("gives no verdict after unhealthy when a plugin answers 'ignore', and a throwing listener does not stop the others", async () => {
    scripted.answer = { ok: false, kind: 'service_down', message: 'down' };
    const { m, hub, verdicts } = await monitor({ failure_threshold: 1 });
    hub.hooks.healthFailed.tap('test:ignore', () => 'ignore');
    m.onVerdict(() => {
      throw new Error('a listener bug');
    });
    const after: string[] = [];
    m.onVerdict((v) => after.push(v.kind));
    m.start();
    await waitUntil(() => verdicts.length >= 1, 3000, 'unhealthy');
    await new Promise((r) => setTimeout(r, 200));
    expect(verdicts.map((v) => v.kind)).toEqual(['unhealthy']);
    expect(after).toEqual(['unhealthy']);
    expect(m.state).toBe('unhealthy');
  });
});
