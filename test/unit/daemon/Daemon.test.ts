import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { loadProject } from '../../../app/project.js';
import { daemonPaths } from '../../../app/control/sockets.js';
import type { ShutdownPhaseName } from '../../../core/hooks.js';
import { Daemon } from '../../../daemon/Daemon.js';
import { FAKE_TUNNEL } from '../../helpers/fake-tech.js';
import { freePort } from '../../helpers/net.js';
import { alive, waitUntil } from '../../helpers/procs.js';

// The daemon in this process (no daemon/main.ts): its shutdown resolves with an outcome instead of
// ending the process, so it is tested like any other function. Real tunnel processes; the state dir
// and the control socket's directory are this test's own.

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-daemon-inproc-'));
const saved = { state: process.env.LOCALPORT_STATE_DIR, runtime: process.env.XDG_RUNTIME_DIR };
beforeAll(() => {
  process.env.LOCALPORT_STATE_DIR = path.join(root, 'state');
  process.env.XDG_RUNTIME_DIR = mkdtempSync(path.join(root, 'rt-'));
});
afterAll(() => {
  process.env.LOCALPORT_STATE_DIR = saved.state;
  process.env.XDG_RUNTIME_DIR = saved.runtime;
  rmSync(root, { recursive: true, force: true });
});

let daemons: Daemon[] = [];
afterEach(async () => {
  for (const d of daemons) d.supervisor.killAllNow();
  await Promise.all(daemons.map((d) => d.supervisor.stopAll()));
  daemons = [];
});

/** A config with one tunnel per kind (`stubborn` ignores SIGTERM), and its daemon, started and ready. */
async function startDaemon(kinds: ('ok' | 'stubborn')[]) {
  const dir = mkdtempSync(path.join(root, 'p-'));
  const file = path.join(dir, 'localport.yaml');
  let yaml = 'services:\n';
  for (const [i, kind] of kinds.entries()) {
    const args = kind === 'ok' ? [FAKE_TUNNEL, '{localPort}', 'ok'] : ['-e', `process.on('SIGTERM', () => {}); import(${JSON.stringify(FAKE_TUNNEL)})`, '--', 'stubborn', '{localPort}', 'ok'];
    yaml += `  - name: ${kind}${i}\n    technology: exec\n    local_port: ${await freePort()}\n    remote_port: 1\n    connection: { command: ${JSON.stringify(process.execPath)}, args: ${JSON.stringify(args)}, ready_pattern: '^LISTENING' }\n`;
  }
  writeFileSync(file, yaml);
  const project = await loadProject({ configPath: file, logFile: daemonPaths(file).log });
  const daemon = new Daemon(project.hub, project.config, project.logger, 'test');
  daemons.push(daemon);
  const phases: ShutdownPhaseName[] = [];
  project.hub.hooks.shutdownPhase.tap('test:recorder', ({ phase }) => {
    phases.push(phase);
  });
  await daemon.start({ autoStart: true });
  await waitUntil(() => daemon.status().services.every((s) => s.state === 'ready'), 10000, 'every service ready');
  const pids = daemon.status().services.map((s) => s.pid!);
  const log = () => readFileSync(daemonPaths(file).log, 'utf8');
  return { daemon, phases, pids, paths: daemonPaths(file), log };
}

describe('Daemon.shutdown, in-process', () => {
  it('resolves (instead of ending the process) once every phase fired and nothing of the daemon is left', async () => {
    const { daemon, phases, pids, paths, log } = await startDaemon(['ok', 'ok']);
    const socket = daemon.socket;
    expect(existsSync(paths.info)).toBe(true);
    expect(existsSync(socket)).toBe(true);
    const outcome = await daemon.shutdown('test');
    expect(outcome).toMatchObject({ reason: 'test', forced: false, left: 0 });
    expect(await daemon.stopped).toBe(outcome);
    expect(phases).toEqual(['stop-new-work', 'complete-current', 'cancel-tasks', 'force-kill']);
    expect(pids.filter((pid) => alive(pid))).toEqual([]);
    expect(existsSync(paths.info)).toBe(false);
    expect(existsSync(socket)).toBe(false);
    for (const phase of ['1/4 stop-new-work', '2/4 complete-current', '3/4 cancel-tasks', '4/4 force-kill']) expect(log()).toContain(`shutdown phase ${phase}`);
    expect(log()).toMatch(/daemon stopped in \d+ ms/);
  });

  it('a second request forces the shutdown and still resolves, with the outcome saying it was forced', async () => {
    const { daemon, pids, paths } = await startDaemon(['stubborn']);
    const first = daemon.shutdown('SIGTERM');
    const second = daemon.shutdown('SIGTERM');
    const [a, b] = await Promise.all([first, second]);
    expect(a).toBe(b);
    expect(a.forced).toBe(true);
    expect(a.phases.at(-1)).toMatchObject({ phase: 'force-kill', outcome: 'done' });
    expect(alive(pids[0])).toBe(false);
    expect(existsSync(paths.info)).toBe(false);
  });
});
