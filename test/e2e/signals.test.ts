import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { runStateFile } from '../../core/runstate.js';
import { hasStack, startCli, type CliProcess } from '../helpers/cli.js';
import { freePort, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { alive, processes, waitUntil } from '../helpers/procs.js';

// Ctrl-C (SIGINT) and SIGKILL of the built CLI's `run`, at each moment of its life, with real tunnel
// processes: exec services running a small TCP relay (node), one of which never becomes ready.

const RELAY = fileURLToPath(new URL('../fixtures/relay.cjs', import.meta.url));

describe('run under Ctrl-C and SIGKILL', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-signals-'));
  const env = { LOCALPORT_STATE_DIR: path.join(root, 'state') };
  let web: HttpPeer;
  const started: CliProcess[] = [];

  beforeAll(async () => {
    web = await startHttpServer('signals');
  });
  afterEach(() => {
    for (const cli of started.splice(0)) cli.child.kill('SIGKILL');
    for (const p of processes().filter((p) => p.cmd.includes(RELAY) && p.cmd.includes(root))) process.kill(p.pid, 'SIGKILL');
  });
  afterAll(async () => {
    await web?.close();
    rmSync(root, { recursive: true, force: true });
  });

  /**
   * A project of relay services. `slow` never says it is ready (its ready pattern is never printed),
   * so `run` is still starting up for as long as the test likes; `stubborn` ignores SIGTERM.
   */
  async function project(kinds: ('fast' | 'slow' | 'stubborn')[]) {
    const dir = mkdtempSync(path.join(root, 'p-'));
    const ports: number[] = [];
    let yaml = 'services:\n';
    for (const [i, kind] of kinds.entries()) {
      const port = await freePort();
      ports.push(port);
      const args =
        kind === 'stubborn'
          ? ['-e', `process.on('SIGTERM', () => console.log('ignoring SIGTERM')); require(${JSON.stringify(RELAY)})`, '--', 'stubborn', '{localPort}', '127.0.0.1', '{remotePort}', dir]
          : [RELAY, '{localPort}', '127.0.0.1', '{remotePort}', dir];
      yaml += `  - name: ${kind}${i}
    technology: exec
    local_port: ${port}
    remote_port: ${web.port}
    connection:
      command: ${JSON.stringify(process.execPath)}
      args: ${JSON.stringify(args)}
${kind === 'slow' ? '      ready_pattern: "never printed"\n' : ''}`;
    }
    writeFileSync(path.join(dir, 'localport.yaml'), yaml);
    const stateFile = runStateFile(path.join(dir, 'localport.yaml'), env);
    // The relay processes of this project, by the port each listens on (a unique argument).
    const tunnels = () => processes().filter((p) => p.cmd.includes(RELAY) && p.cmd.includes(dir) && alive(p.pid));
    const run = (args: string[]) => {
      const cli = startCli(['run', ...args], { cwd: dir, env });
      started.push(cli);
      return cli;
    };
    return { dir, ports, stateFile, tunnels, run };
  }

  it('Ctrl-C during start-up stops every service in order, removes the run-state file and exits 130', async () => {
    const p = await project(['fast', 'slow']);
    const cli = p.run(['--', 'node', '-e', 'console.log("the command ran")']);
    // Both tunnels spawned, and the state published: `run` is in the middle of starting up.
    await waitUntil(() => p.tunnels().length === 2 && existsSync(p.stateFile), 10000, 'both tunnels spawned');
    await cli.waitFor(/fast0: healthy/);
    const pids = p.tunnels().map((t) => t.pid);
    cli.child.kill('SIGINT');
    const r = await cli.exited;
    expect(r.code).toBe(130); // listr2's own handler made it 127
    expect(r.stdout + r.stderr).not.toContain('the command ran');
    expect(hasStack(r.stderr)).toBe(false);
    expect(pids.filter((pid) => alive(pid))).toEqual([]);
    expect(existsSync(p.stateFile)).toBe(false);
  });

  it('Ctrl-C while waiting (no command) stops every service and exits 130', async () => {
    const p = await project(['fast', 'fast']);
    const cli = p.run([]);
    await cli.waitFor(/fast1\s+exec\s+ready/);
    const pids = p.tunnels().map((t) => t.pid);
    expect(pids).toHaveLength(2);
    expect(existsSync(p.stateFile)).toBe(true);
    cli.child.kill('SIGINT');
    const r = await cli.exited;
    expect(r.code).toBe(130);
    expect(r.stdout).toContain('SIGINT: stopping 2 services');
    expect(pids.filter((pid) => alive(pid))).toEqual([]);
    expect(existsSync(p.stateFile)).toBe(false);
  });

  it("Ctrl-C while the command runs reaches the command; run exits with the command's code after stopping everything", async () => {
    const p = await project(['fast']);
    const cli = p.run(['--', 'node', '-e', "process.on('SIGINT', () => { console.log('command got SIGINT'); process.exit(42); }); console.log('command up'); setInterval(() => {}, 1000);"]);
    await cli.waitFor(/command up/);
    const pids = p.tunnels().map((t) => t.pid);
    expect(pids).toHaveLength(1);
    cli.child.kill('SIGINT');
    const r = await cli.exited;
    expect(r.stdout).toContain('command got SIGINT');
    expect(r.code).toBe(42);
    expect(pids.filter((pid) => alive(pid))).toEqual([]);
    expect(existsSync(p.stateFile)).toBe(false);
  });

  it('a second Ctrl-C forces the stop: a tunnel that ignores SIGTERM is killed at once, and the run-state file is removed', async () => {
    const p = await project(['stubborn']);
    const cli = p.run([]);
    await cli.waitFor(/stubborn0\s+exec\s+ready/);
    const [tunnel] = p.tunnels();
    cli.child.kill('SIGINT');
    // The orderly stop now waits up to its 2 s grace for the tunnel, which ignores SIGTERM.
    await new Promise((r) => setTimeout(r, 300));
    expect(alive(tunnel.pid)).toBe(true);
    const t0 = Date.now();
    cli.child.kill('SIGINT');
    const r = await cli.exited;
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(r.code).toBe(130);
    await waitUntil(() => !alive(tunnel.pid), 1000, 'the stubborn tunnel killed');
    expect(existsSync(p.stateFile)).toBe(false);
  });

  it('SIGKILL of run while its command runs: the command dies with it, as the tunnels do', async () => {
    const p = await project(['fast']);
    const cli = p.run(['--', 'node', '-e', "console.log('command pid', process.pid); setInterval(() => {}, 1000);"]);
    await cli.waitFor(/command pid \d+/);
    const commandPid = Number(/command pid (\d+)/.exec(cli.stdout())![1]);
    const [tunnel] = p.tunnels();
    expect(alive(commandPid)).toBe(true);
    // Not `exited` (stdio closed): a surviving command would hold run's stdout open.
    const gone = new Promise((r) => cli.child.once('exit', r));
    cli.child.kill('SIGKILL');
    await gone;
    try {
      await waitUntil(() => !alive(commandPid), 2000, 'the command gone with run');
      await waitUntil(() => !alive(tunnel.pid), 2000, 'the tunnel gone with run');
    } finally {
      if (alive(commandPid)) process.kill(commandPid, 'SIGKILL');
    }
  });
  it("a reader that leaves (`run --events - -- CMD | grep -m1 ready`) ends neither the command nor run: run tears down and exits with the command's code", async () => {
    const p = await project(['fast']);
    const cli = p.run(['--events', '-', '--', 'sh', '-c', 'sleep 1; echo alive >&2; exit 3']);
    await cli.waitFor(/"type":"ready"/);
    const pids = p.tunnels().map((t) => t.pid);
    // The reader is gone: every later event (the teardown's state changes) meets EPIPE.
    cli.child.stdout!.destroy();
    const code = await new Promise<number | null>((resolve) => cli.child.once('exit', (c) => resolve(c)));
    expect(code).toBe(3); // was 0: the first EPIPE ended run at once
    expect(cli.stderr()).toContain('alive');
    expect(hasStack(cli.stderr())).toBe(false);
    expect(existsSync(p.stateFile)).toBe(false);
    expect(pids.filter(alive)).toEqual([]);
  });
  it('a command killed by a signal makes run exit 128 + its number, as a shell does, for any signal (SIGPIPE: 141)', async () => {
    const p = await project(['fast']);
    for (const [signal, code] of [['PIPE', 141], ['USR1', 138], ['TERM', 143]] as const) {
      const r = await p.run(['--', 'sh', '-c', `kill -${signal} $$`]).exited;
      expect([signal, r.code]).toEqual([signal, code]); // was 129 for all but HUP, INT, TERM and KILL
    }
  });
});
