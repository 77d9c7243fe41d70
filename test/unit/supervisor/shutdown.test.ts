import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import type { ShutdownPhaseInfo } from '../../../core/hooks.js';
import type { LocalPort } from '../../../core/LocalPort.js';
import { Supervisor } from '../../../core/supervisor/Supervisor.js';
import { SHUTDOWN_PHASES, Shutdown, type ShutdownOptions } from '../../../core/supervisor/shutdown.js';
import type { Logger } from '../../../core/types.js';
import { fakeTechPlugin } from '../../helpers/fake-tech.js';
import { resolve } from '../../helpers/hub.js';
import { freePort } from '../../helpers/net.js';
import { alive } from '../../helpers/procs.js';

// The shutdown module in-process, with real tunnel processes (test/fixtures/fake-tunnel.mjs, and a
// node process that ignores SIGTERM): the phases, the hook, the host's actions, deadlines, forcing.

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-shutdown-'));
beforeAll(() => {
  process.env.LOCALPORT_STATE_DIR = dir;
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let supervisors: Supervisor[] = [];
afterEach(async () => {
  for (const s of supervisors) s.killAllNow();
  await Promise.all(supervisors.map((s) => s.stopAll()));
  supervisors = [];
});

/** A logger that keeps its lines. */
function memoryLogger(): Logger & { lines: string[] } {
  const lines: string[] = [];
  const log = (obj: object | string, msg?: string) => lines.push(typeof obj === 'string' ? obj : (msg ?? JSON.stringify(obj)));
  return { lines, debug: log, info: log, warn: log, error: log };
}

/** Services up and running, a hub whose `shutdownPhase` taps record what they see (and when). */
async function setup(kinds: ('ok' | 'stubborn')[]) {
  const services = [];
  for (const [i, kind] of kinds.entries()) {
    const localPort = await freePort();
    services.push(
      kind === 'ok'
        ? { name: `s${i}`, technology: 'fake', local_port: localPort, remote_port: 1, connection: {} }
        : {
            name: `s${i}`,
            technology: 'exec',
            local_port: localPort,
            remote_port: 1,
            connection: {
              command: process.execPath,
              args: ['-e', "process.on('SIGTERM', () => {}); require('net').createServer().listen(Number(process.argv[1]), '127.0.0.1', () => console.log('up'))", '{localPort}'],
              ready_pattern: '^up$',
            },
          },
    );
  }
  const { hub, config } = await resolve({ services }, {}, [fakeTechPlugin()]);
  const supervisor = new Supervisor(hub);
  supervisors.push(supervisor);
  const sups = config.services.map((s) => supervisor.add(s));
  await Promise.all(sups.map((s) => s.start()));
  const seen: (ShutdownPhaseInfo & { running: number })[] = [];
  hub.hooks.shutdownPhase.tapPromise('test:recorder', async (info) => {
    seen.push({ ...info, running: sups.filter((s) => s.pid && alive(s.pid)).length });
  });
  const logger = memoryLogger();
  const shutdown = (opts: Partial<ShutdownOptions> = {}) => new Shutdown(hub as LocalPort, supervisor, { logger, ...opts });
  return { hub, supervisor, sups, pids: sups.map((s) => s.pid!), seen, logger, shutdown };
}

const PHASES = ['stop-new-work', 'complete-current', 'cancel-tasks', 'force-kill'];

describe('Shutdown', () => {
  it('runs the four phases in order, firing shutdownPhase with each deadline and running the host actions in their phase, and stops every service', async () => {
    const { pids, sups, seen, logger, shutdown } = await setup(['ok', 'ok']);
    const host: string[] = [];
    const s = shutdown({
      actions: {
        'stop-new-work': () => host.push(`stop-new-work after ${seen.length} phases fired`),
        'complete-current': async () => {
          await new Promise((r) => setTimeout(r, 20));
          host.push('complete-current');
        },
      },
    });
    expect(s.requested).toBe(false);
    const outcome = await s.request('test');
    expect(s.requested).toBe(true);
    expect(seen.map((p) => [p.phase, p.timeout])).toEqual(SHUTDOWN_PHASES.map((p) => [p.phase, p.timeout]));
    expect(seen.map((p) => p.phase)).toEqual(PHASES);
    // The tunnels still ran while the phases before cancel-tasks fired; they are gone once it is over.
    expect(seen.map((p) => p.running)).toEqual([2, 2, 2, 0]);
    expect(host).toEqual(['stop-new-work after 1 phases fired', 'complete-current']);
    expect(pids.filter((pid) => alive(pid))).toEqual([]);
    expect(sups.map((x) => x.state)).toEqual(['stopped', 'stopped']);
    expect(outcome).toMatchObject({ reason: 'test', forced: false, left: 0 });
    expect(outcome.phases.map((p) => [p.phase, p.outcome])).toEqual(PHASES.map((p) => [p, 'done']));
    expect(logger.lines).toContain('shutdown requested (test)');
    for (const [i, p] of PHASES.entries()) expect(logger.lines.some((l) => l.startsWith(`shutdown phase ${i + 1}/4 ${p}: done in `))).toBe(true);
  });

  it('ends a phase at its deadline when a tap or the host is slower, and goes on; a throwing tap is logged', async () => {
    const { hub, pids, logger, shutdown } = await setup(['ok']);
    hub.hooks.shutdownPhase.tapPromise('test:slow', async ({ phase }) => {
      if (phase === 'stop-new-work') await new Promise((r) => setTimeout(r, 5000).unref());
      if (phase === 'complete-current') throw new Error('cleanup went wrong');
    });
    const t0 = Date.now();
    const outcome = await shutdown({ timeouts: { 'stop-new-work': 0.2 } }).request('test');
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(outcome.phases.map((p) => [p.phase, p.outcome])).toEqual([
      ['stop-new-work', 'timeout'],
      ['complete-current', 'done'],
      ['cancel-tasks', 'done'],
      ['force-kill', 'done'],
    ]);
    expect(outcome.phases[0].timeout).toBe(0.2);
    expect(logger.lines.some((l) => /plugin test:slow failed in shutdownPhase: cleanup went wrong/.test(l))).toBe(true);
    expect(alive(pids[0])).toBe(false);
  });

  it('a second request forces: the phase under way is cut short, SIGKILL reaches a tunnel that ignores SIGTERM, and both requests resolve with one outcome', async () => {
    const { pids, seen, shutdown } = await setup(['stubborn', 'ok']);
    let forcedHost = 0;
    // A long cancel-tasks, as `run` has: without the second request the stubborn tunnel would hold it for seconds.
    const s = shutdown({ timeouts: { 'cancel-tasks': 10 }, onForce: () => forcedHost++ });
    const first = s.request('first');
    await new Promise((r) => setTimeout(r, 300));
    expect(alive(pids[0])).toBe(true);
    expect(alive(pids[1])).toBe(false);
    const t0 = Date.now();
    const second = s.request('second');
    const [a, b] = await Promise.all([first, second]);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(a).toBe(b);
    expect(a).toMatchObject({ reason: 'first', forced: true, left: 0 });
    expect(a.phases.map((p) => [p.phase, p.outcome])).toEqual([
      ['stop-new-work', 'done'],
      ['complete-current', 'done'],
      ['cancel-tasks', 'forced'],
      ['force-kill', 'done'],
    ]);
    expect(seen.map((p) => p.phase)).toEqual(PHASES);
    expect(forcedHost).toBe(1);
    expect(alive(pids[0])).toBe(false);
    // Over: a later request changes nothing.
    expect(await s.request('late')).toBe(a);
    expect(forcedHost).toBe(1);
  });

  it('a request with force skips the orderly phases: only force-kill fires', async () => {
    const { pids, seen, shutdown } = await setup(['stubborn']);
    const t0 = Date.now();
    const outcome = await shutdown().request('second signal', { force: true });
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(seen.map((p) => p.phase)).toEqual(['force-kill']);
    expect(outcome.forced).toBe(true);
    expect(outcome.phases.map((p) => p.outcome)).toEqual(['skipped', 'skipped', 'skipped', 'done']);
    expect(alive(pids[0])).toBe(false);
  });
});
