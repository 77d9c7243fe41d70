import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { ServiceError } from '../../../core/errors.js';
import { configObject, definePlugin } from '../../../core/index.js';
import type { LocalPort } from '../../../core/LocalPort.js';
import { Supervisor } from '../../../core/supervisor/Supervisor.js';
import type { ServiceState } from '../../../core/types.js';
import { fakeTechPlugin } from '../../helpers/fake-tech.js';
import { resolve } from '../../helpers/hub.js';
import { freePort } from '../../helpers/net.js';
import { alive, waitUntil } from '../../helpers/procs.js';

// The tunnel here is test/fixtures/fake-tunnel.mjs, a real child process standing in for ssh/kubectl,
// so the state machine is tested without a network peer. Real ssh is covered in test/integration.

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-sup-'));
beforeAll(() => {
  process.env.LOCALPORT_STATE_DIR = dir;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let supervisors: Supervisor[] = [];
afterEach(async () => {
  await Promise.all(supervisors.map((s) => s.stopAll()));
  supervisors = [];
});

/** A health check that always answers "credentials rejected", counting how often it was asked. */
const rejectingCheck = { calls: 0 };
const rejectingCheckPlugin = () =>
  definePlugin({
    name: 'test:rejecting-check',
    apply(api) {
      api.registerHealthCheck({
        type: 'rejecting',
        configSchema: configObject({}),
        async check() {
          rejectingCheck.calls += 1;
          return { ok: false, kind: 'auth_rejected', code: '28P01', message: 'password authentication failed' };
        },
      });
    },
  });

async function setup(services: Record<string, unknown>[], restart: Record<string, unknown> = {}) {
  const { hub, config } = await resolve(
    { defaults: { restart_policy: { initial_delay: 0.05, jitter: 0, ...restart } }, services },
    {},
    [fakeTechPlugin(), rejectingCheckPlugin()],
  );
  const sup = new Supervisor(hub);
  supervisors.push(sup);
  const states: Record<string, ServiceState[]> = {};
  hub.hooks.stateChanged.tap('test', (c) => (states[c.service.name] ??= []).push(c.to));
  return { hub: hub as LocalPort, config, sup, states };
}

const fake = async (name: string, connection: Record<string, unknown> = {}, extra: Record<string, unknown> = {}) => ({
  name,
  technology: 'fake',
  local_port: await freePort(),
  remote_port: 1,
  connection,
  ...extra,
});

describe('ServiceSupervisor', () => {
  it('starts, reports ready with its pid, and stops leaving no process', async () => {
    const { config, sup, states } = await setup([await fake('a')]);
    const s = sup.add(config.services[0]);
    await s.start();
    const pid = s.pid!;
    expect(s.status()).toMatchObject({ name: 'a', state: 'ready', pid, localAddress: '127.0.0.1', target: 'fake:1', restarts: 0 });
    expect(alive(pid)).toBe(true);
    await s.stop();
    expect(states.a).toEqual(['starting', 'ready', 'stopping', 'stopped']);
    expect(alive(pid)).toBe(false);
    expect(s.pid).toBeNull();
  });

  it('notices a killed tunnel at once and restarts it on the same port', async () => {
    const { config, sup, states } = await setup([await fake('a')]);
    const s = sup.add(config.services[0]);
    await s.start();
    const first = s.pid!;
    process.kill(first, 'SIGKILL');
    await waitUntil(() => s.state === 'ready' && s.pid !== first, 3000, 'the restart');
    expect(states.a).toEqual(['starting', 'ready', 'restarting', 'ready']);
    expect(s.restarts).toBe(1);
    expect(s.lastError).toMatch(/killed by SIGKILL/);
    const body = await new Promise<string>((r, j) => net.connect(config.services[0].localPort, '127.0.0.1').on('data', (d) => r(String(d))).on('error', j));
    expect(body).toBe('pong');
  });

  it('reports health unknown, not the last result, from the moment the tunnel is lost until a check runs on the next one', async () => {
    const { config, sup, hub } = await setup([await fake('a', {}, { health_check: { type: 'tcp', interval: 0.05, startup_grace: 0 } })], { initial_delay: 0.5 });
    const s = sup.add(config.services[0]);
    // What an observer of the state change sees: the dashboard and the run state file are such observers.
    const seen: string[] = [];
    hub.hooks.stateChanged.tap('test', (c) => seen.push(`${c.to}:${s.status().health?.state}`));
    await s.start();
    await s.whenHealthy();
    expect(s.status().health).toMatchObject({ state: 'healthy' });
    process.kill(s.pid!, 'SIGKILL');
    await waitUntil(() => s.state === 'restarting', 3000, 'the restart');
    // The last check's word stays, as such; its verdict is no longer current.
    expect(s.status().health).toMatchObject({ state: 'unknown', type: 'tcp', consecutiveFailures: 0 });
    expect(s.status().health?.lastCheck).not.toBeNull();
    expect(seen).toEqual(['starting:unknown', 'ready:unknown', 'restarting:unknown']);
    await waitUntil(() => s.status().health?.state === 'healthy', 5000, 'healthy again on the new tunnel');
  });

  it('gives up after max_attempts failed restarts, with growing delays', async () => {
    const flag = path.join(dir, 'flag-max');
    const { config, sup, hub } = await setup([await fake('a', { flag })], { max_attempts: 3, initial_delay: 0.05, backoff_multiplier: 2 });
    const delays: number[] = [];
    hub.hooks.beforeRestart.tap('test', (_s, info) => {
      delays.push(info.delay);
    });
    const s = sup.add(config.services[0]);
    await s.start();
    writeFileSync(flag, 'fail');
    process.kill(s.pid!, 'SIGKILL');
    await waitUntil(() => s.state === 'failed', 5000, 'failed state');
    expect(delays).toEqual([0.05, 0.1, 0.2]);
    expect(s.lastError).toMatch(/the fake remote refused the forward \(gave up after 3 restart attempts\)/);
    expect(s.pid).toBeNull();
  });

  it('lets a plugin veto a restart', async () => {
    const { config, sup, hub } = await setup([await fake('a')]);
    hub.hooks.beforeRestart.tap('test:veto', () => false);
    const s = sup.add(config.services[0]);
    await s.start();
    process.kill(s.pid!, 'SIGKILL');
    await waitUntil(() => s.state === 'failed', 3000, 'failed state');
    expect(s.lastError).toMatch(/restart vetoed by a plugin/);
  });

  it('resets the attempt counter once the service has been stable', async () => {
    const { config, sup } = await setup([await fake('a')], { reset_after: 0.3 });
    const s = sup.add(config.services[0]);
    await s.start();
    process.kill(s.pid!, 'SIGKILL');
    await waitUntil(() => s.state === 'ready' && s.restarts === 1, 3000, 'restart');
    expect(s.attempts).toBe(1);
    await waitUntil(() => s.attempts === 0, 2000, 'attempt reset');
  });

  it('fails a first start fast with the technology\'s explanation, leaving nothing running', async () => {
    const { config, sup } = await setup([await fake('a', { mode: 'fail' })]);
    const s = sup.add(config.services[0]);
    const err = await s.start().catch((e) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect(err.message).toBe('service a: the fake remote refused the forward');
    expect(s.state).toBe('failed');
    expect(s.pid).toBeNull();
  });

  it('names a bind address that is not this machine\'s, or does not resolve, as such: not as "port in use"', async () => {
    // Validation refuses both (core/config/bind.ts); this is the start-up check, for an interface gone since.
    const port = await freePort();
    const exec = (name: string, bind: string, local = port) => ({ name, technology: 'exec', local_port: local, remote_port: 1, connection: { command: process.execPath, bind_address: bind } });
    const { config: valid, sup } = await setup([exec('far', '127.0.0.1'), exec('nowhere', '127.0.0.1', await freePort())]);
    // Valid when the config was resolved; then the address went away.
    const gone = (i: number, bindAddress: string) => ({ ...valid.services[i], connection: { ...valid.services[i].connection, bindAddress } });
    const config = { services: [gone(0, '203.0.113.77'), gone(1, 'nonexistent.invalid')] };
    const far = await sup.add(config.services[0]).start().catch((e) => e);
    expect(far.code).toBe('BIND_FAILED');
    expect(far.message).toBe(`service far: cannot listen on 203.0.113.77:${port}: 203.0.113.77 is not an address of this machine`);
    const nowhere = await sup.add(config.services[1]).start().catch((e) => e);
    expect(nowhere.message).toMatch(/^service nowhere: cannot listen on nonexistent\.invalid:\d+: bind address 'nonexistent\.invalid' does not resolve \((ENOTFOUND|EAI_AGAIN)\)$/);
  });

  it('retries a first start that failed transiently, under the restart policy, until it is ready', async () => {
    const flag = path.join(dir, 'flag-transient');
    writeFileSync(flag, 'reset');
    const { config, sup, hub, states } = await setup([await fake('a', { flag })]);
    const attempts: number[] = [];
    hub.hooks.beforeRestart.tap('test', (_s, info) => {
      attempts.push(info.attempt);
      if (info.attempt === 2) writeFileSync(flag, 'ok'); // the server takes the third attempt
    });
    const s = sup.add(config.services[0]);
    await s.start();
    expect(s.state).toBe('ready');
    expect(attempts).toEqual([1, 2]);
    expect(states.a).toEqual(['starting', 'restarting', 'ready']);
    // A first start that needed retries is not a restart of a running service.
    expect(s.restarts).toBe(0);
  });

  it('gives up on a transiently failing first start after max_attempts, and says so', async () => {
    const { config, sup } = await setup([await fake('a', { mode: 'reset' })], { max_attempts: 2 });
    const s = sup.add(config.services[0]);
    const err = await s.start().catch((e) => e);
    expect(err).toBeInstanceOf(ServiceError);
    expect(err.message).toBe('service a: the fake remote reset the connection (gave up after 2 restart attempts)');
    expect(s.state).toBe('failed');
    expect(s.pid).toBeNull();
  });

  it('stops a first start that is waiting to retry', async () => {
    const { config, sup } = await setup([await fake('a', { mode: 'reset' })], { initial_delay: 5 });
    const s = sup.add(config.services[0]);
    const starting = s.start();
    await waitUntil(() => s.state === 'restarting', 3000, 'the retry wait');
    await s.stop();
    await expect(starting).resolves.toBeUndefined();
    expect(s.state).toBe('stopped');
  });

  it('fails a first start at once on rejected credentials, without a retry', async () => {
    const { config, sup, hub } = await setup([await fake('a', { mode: 'denied' })]);
    let retries = 0;
    hub.hooks.beforeRestart.tap('test', () => {
      retries += 1;
    });
    const err = await sup.add(config.services[0]).start().catch((e) => e);
    expect(err).toMatchObject({ code: 'AUTH_REJECTED', message: 'service a: the fake remote refused our credentials' });
    expect(retries).toBe(0);
  });

  it('fails a running service at once, instead of restarting it again, when a restart is refused its credentials', async () => {
    const flag = path.join(dir, 'flag-denied');
    const { config, sup, hub } = await setup([await fake('a', { flag })]);
    let spawns = 0;
    hub.hooks.beforeStart.tap('test', () => {
      spawns += 1;
    });
    const s = sup.add(config.services[0]);
    await s.start();
    writeFileSync(flag, 'denied');
    process.kill(s.pid!, 'SIGKILL');
    await waitUntil(() => s.state === 'failed', 3000, 'failed state');
    await new Promise((r) => setTimeout(r, 400)); // eight initial delays: no more attempts come
    expect(spawns).toBe(2); // the first start and one restart, refused
    expect(s.lastError).toBe('service a: the fake remote refused our credentials');
    expect(s.pid).toBeNull();
  });

  it('fails the service at the first rejected health check, whatever failure_threshold says, and checks no more', async () => {
    rejectingCheck.calls = 0;
    const { config, sup } = await setup([await fake('a', {}, { health_check: { type: 'rejecting', interval: 0.05, failure_threshold: 3 } })]);
    const s = sup.add(config.services[0]);
    await s.start();
    const pid = s.pid!;
    const err = await Promise.race([s.whenHealthy().catch((e) => e), new Promise((r) => setTimeout(() => r(new Error('still waiting after 3 s')), 3000))]);
    expect(err).toMatchObject({ code: 'AUTH_REJECTED' });
    expect(err.message).toMatch(/^service a: the rejecting check's credentials were rejected \(password authentication failed\); not retried/);
    expect(s.state).toBe('failed');
    // Failed: no tunnel, so no current health; the rejection stays as the last check's word.
    expect(s.health.status()).toMatchObject({ state: 'unknown', kind: 'auth_rejected', code: '28P01' });
    await waitUntil(() => !alive(pid), 3000, 'the tunnel killed');
    await new Promise((r) => setTimeout(r, 500)); // ten check intervals
    expect(rejectingCheck.calls).toBe(1);
  });

  it('keeps a service whose rejected check a plugin ignores, but checks it at most every 30 s', async () => {
    rejectingCheck.calls = 0;
    const { config, sup, hub } = await setup([await fake('a', {}, { health_check: { type: 'rejecting', interval: 0.05 } })]);
    hub.hooks.healthFailed.tap('test:ignore', () => 'ignore');
    const s = sup.add(config.services[0]);
    await s.start();
    await waitUntil(() => rejectingCheck.calls >= 1, 2000, 'the first check');
    await new Promise((r) => setTimeout(r, 500));
    expect(s.state).toBe('ready');
    expect(rejectingCheck.calls).toBe(1);
  });

  it('names the port and the process holding it when the local port is taken', async () => {
    const port = await freePort();
    const holder = net.createServer();
    await new Promise<void>((r) => holder.listen(port, '127.0.0.1', r));
    try {
      const { config, sup } = await setup([{ ...(await fake('a')), local_port: port }]);
      const err = await sup.add(config.services[0]).start().catch((e) => e);
      expect(err.code).toBe('PORT_IN_USE');
      expect(err.message).toContain(`local port ${port} on 127.0.0.1 is already in use by pid ${process.pid} (`);
    } finally {
      holder.close();
    }
  });

  it('starts services in parallel', async () => {
    const { config, sup } = await setup([await fake('a', { delay: 600 }), await fake('b', { delay: 600 }), await fake('c', { delay: 600 })]);
    const t0 = Date.now();
    const results = await sup.startAll(config.services);
    const elapsed = Date.now() - t0;
    expect(results.every((r) => r.ok)).toBe(true);
    // In series this would take more than 1.8 s.
    expect(elapsed).toBeLessThan(1500);
  });

  it('never spawns after a stop that arrived while the technology was preparing the spawn', async () => {
    const { config, sup, hub } = await setup([await fake('a', { create_delay: 150 })]);
    const spawned: number[] = [];
    hub.hooks.afterStart.tap('test', (_s, f) => {
      if (f.pid) spawned.push(f.pid);
    });
    const s = sup.add(config.services[0]);
    const starting = s.start();
    await new Promise((r) => setTimeout(r, 30));
    await s.stop();
    await starting;
    await new Promise((r) => setTimeout(r, 300));
    expect(s.state).toBe('stopped');
    expect(s.pid).toBeNull();
    expect(spawned).toEqual([]);
    // Nothing listens on the service's port: no tunnel was left behind.
    await expect(new Promise((resolve, reject) => net.connect(config.services[0].localPort, '127.0.0.1').on('connect', resolve).on('error', reject))).rejects.toThrow(/ECONNREFUSED/);
  });

  it('stops a service that is still starting', async () => {
    const { config, sup } = await setup([await fake('a', { mode: 'hang' })]);
    const s = sup.add(config.services[0]);
    const starting = s.start();
    await waitUntil(() => s.pid !== null, 2000, 'spawn');
    const pid = s.pid!;
    await s.stop();
    await starting;
    expect(s.state).toBe('stopped');
    expect(alive(pid)).toBe(false);
  });
});

describe('observer hooks', () => {
  // A webhook plugin as users write it: every observer posts somewhere slow (2 s here). Each test
  // asserts that the service got where it was going while the observer was still busy: nobody waited.
  const SLOW_MS = 2000;
  const slowObserver = () => {
    const o = { started: 0, busy: 0 };
    const fn = async () => {
      o.started += 1;
      o.busy += 1;
      await new Promise((r) => setTimeout(r, SLOW_MS));
      o.busy -= 1;
    };
    return { o, fn };
  };

  it('a slow afterStart observer does not delay the restart after kill -9 of the tunnel', async () => {
    const { config, sup, hub } = await setup([await fake('a')]);
    const { o, fn } = slowObserver();
    hub.hooks.afterStart.tapPromise('test:slow-webhook', fn);
    const s = sup.add(config.services[0]);
    await s.start();
    for (const round of [1, 2]) {
      // Killed while the afterStart observer of the previous start is still busy.
      const pid = s.pid!;
      const t0 = Date.now();
      process.kill(pid, 'SIGKILL');
      await waitUntil(() => s.state === 'ready' && s.pid !== pid, 3000, `restart ${round}`);
      expect({ round, busy: o.busy >= round }).toEqual({ round, busy: true });
      // Back after a 50 ms backoff and a node start-up: well below the observer's 2 s.
      expect(Date.now() - t0).toBeLessThan(SLOW_MS);
    }
    expect(o.started).toBe(3);
  });

  it('a slow startFailed observer does not delay the retry of a failed restart attempt', async () => {
    const flag = path.join(dir, 'flag-slow-observer');
    const { config, sup, hub } = await setup([await fake('a', { flag })]);
    const { o, fn } = slowObserver();
    const failed: string[] = [];
    hub.hooks.startFailed.tapPromise('test:slow-webhook', async (_s, error) => {
      failed.push(error.message);
      await fn();
    });
    hub.hooks.beforeRestart.tap('test', (_s, info) => {
      if (info.attempt === 2) writeFileSync(flag, 'ok'); // the second attempt works
    });
    const s = sup.add(config.services[0]);
    await s.start();
    writeFileSync(flag, 'reset');
    const pid = s.pid!;
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => s.state === 'ready' && s.pid !== pid, 5000, 'the restart');
    expect(failed).toEqual(['service a: the fake remote reset the connection']);
    expect(o.busy).toBe(1);
  });

  it('a slow startFailed observer does not delay the failure a first start reports, and a stop lets it finish', async () => {
    const { config, sup, hub } = await setup([await fake('a', { mode: 'fail' })]);
    const { o, fn } = slowObserver();
    hub.hooks.startFailed.tapPromise('test:slow-webhook', fn);
    const s = sup.add(config.services[0]);
    const err = await s.start().catch((e) => e);
    expect(err.message).toBe('service a: the fake remote refused the forward');
    expect(o).toEqual({ started: 1, busy: 1 });
    // As `run` does after a failed start: the stop waits (up to the stop grace) for the observer.
    await s.stop();
    expect(o).toEqual({ started: 1, busy: 0 });
  });
});
