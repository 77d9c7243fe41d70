import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { runCli, startCli } from '../helpers/cli.js';
import { freePort, httpGet, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer, hasSocat } from '../helpers/peers.js';
import { alive, processes, waitUntil } from '../helpers/procs.js';

// The forking wrapper stands in for Google Cloud SDK's kubectl dispatcher (/usr/bin/kubectl here): it
// runs the real forwarder (socat, a real TCP relay) as its child and waits, so the parent-death signal
// LocalPort sets on its tunnel reaches only the wrapper. The built CLI runs it as an exec service.

const WRAPPER = fileURLToPath(new URL('../fixtures/forking-wrapper.sh', import.meta.url));
const RELAY = fileURLToPath(new URL('../fixtures/relay.cjs', import.meta.url));
const SETSID_WRAPPER = fileURLToPath(new URL('../fixtures/setsid-wrapper.sh', import.meta.url));

describeWithPeer('socat', hasSocat, 'no orphans, even through a wrapper that forks the forwarder', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-orphans-'));
  let web: HttpPeer;
  const strangers: ChildProcess[] = [];
  const dirs: { dir: string; env: NodeJS.ProcessEnv }[] = [];

  beforeAll(async () => {
    web = await startHttpServer('behind the wrapper');
  });
  afterEach(async () => {
    for (const { dir, env } of dirs.splice(0)) await runCli(['daemon', 'stop'], { cwd: dir, env });
    for (const s of strangers.splice(0)) s.kill('SIGKILL');
    for (const p of processes().filter((p) => p.cmd.includes(root) || p.cmd.includes(WRAPPER) || p.cmd.includes(SETSID_WRAPPER) || p.cmd.includes(`TCP:127.0.0.1:${web.port}`))) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
  afterAll(async () => {
    await web?.close();
    rmSync(root, { recursive: true, force: true });
  });

  const socatArgs = (local: number | string) => [`TCP-LISTEN:${local},bind=127.0.0.1,reuseaddr,fork`, `TCP:127.0.0.1:${web.port}`];

  async function project(opts: { secret?: boolean } = {}) {
    const dir = mkdtempSync(path.join(root, 'p-'));
    const env: NodeJS.ProcessEnv = { LOCALPORT_STATE_DIR: path.join(dir, 'state'), LP_TOKEN: 'tok-at-rest-90210-secret' };
    dirs.push({ dir, env });
    const local = await freePort();
    // socat's -lp (the name it logs under) names this project's forwarder (socat listens on the internal
    // port LocalPort assigns, not on the local port); with `secret`, it and an env value carry the
    // secret: both reach the command line / environment.
    const marker = opts.secret ? env.LP_TOKEN! : `fwd-${local}`;
    const args = ['socat', '-lp', opts.secret ? '${LP_TOKEN}' : marker, ...socatArgs('{localPort}')];
    writeFileSync(
      path.join(dir, 'localport.yaml'),
      `services:
  - name: fwd
    technology: exec
    local_port: ${local}
    remote_port: ${web.port}
    connection:
      command: ${JSON.stringify(WRAPPER)}
      args: ${JSON.stringify(args)}
${opts.secret ? '      env: { API_TOKEN: "${LP_TOKEN}" }\n' : ''}`,
    );
    const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });
    /** The real forwarder: socat listening on this project's port. */
    const forwarders = () => processes().filter((p) => p.cmd.startsWith(`socat -lp ${marker} `) && alive(p.pid));
    return { dir, env, local, cli, forwarders };
  }

  /** A process that is not ours: the very same wrapper and forwarder, started by someone else (no marker). */
  async function stranger(extraEnv: NodeJS.ProcessEnv = {}) {
    const port = await freePort();
    const child = spawn(WRAPPER, ['socat', ...socatArgs(port)], { detached: true, stdio: 'ignore', env: { ...process.env, ...extraEnv } });
    strangers.push(child);
    let pid = 0;
    await waitUntil(() => {
      pid = processes().find((p) => p.cmd.startsWith('socat') && p.cmd.includes(`TCP-LISTEN:${port},`))?.pid ?? 0;
      return pid > 0;
    }, 3000, 'the stranger forwarder');
    return pid;
  }

  /** SIGKILLs a LocalPort process and waits until the wrapper has died of its parent-death signal. */
  async function killHard(pid: number, forwarder: { pid: number; ppid: number }) {
    process.kill(pid, 'SIGKILL');
    await waitUntil(() => !alive(pid) && !alive(forwarder.ppid), 3000, 'LocalPort and the wrapper dead');
    // What happens to a forked forwarder: it survives, orphaned, its port still bound.
    expect(alive(forwarder.pid)).toBe(true);
  }

  const fetchThrough = (local: number) => ['node', '-e', `fetch('http://127.0.0.1:${local}/').then(r => r.text()).then(t => console.log(t))`];

  it('after SIGKILL of run, the next run reaps the forwarder the wrapper forked and starts cleanly; processes that are not ours are left alone', async () => {
    const p = await project();
    const notOurs = [await stranger(), await stranger({ LOCALPORT_OWNER: 'another-localport' })];
    const cli = startCli(['run'], { cwd: p.dir, env: p.env });
    await cli.waitFor(/fwd\s+exec\s+ready/);
    const [forwarder] = p.forwarders();
    expect(forwarder).toBeDefined();
    expect(processes().find((x) => x.pid === forwarder.ppid)?.cmd).toContain(WRAPPER);
    await killHard(cli.child.pid!, forwarder);

    const r = await p.cli('run', '--', ...fetchThrough(p.local));
    expect(r.stderr).not.toContain('in use');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe('behind the wrapper\n');
    expect(alive(forwarder.pid)).toBe(false);
    expect(p.forwarders()).toEqual([]);
    expect(notOurs.filter((pid) => alive(pid))).toEqual(notOurs);
  });

  it('after SIGKILL of the daemon, the next start reaps and starts cleanly; run and start reap what the other left', async () => {
    const p = await project();
    const notOurs = await stranger();
    const daemonPid = async () => JSON.parse((await p.cli('status', '--output', 'json')).stdout).runner.pid as number;

    // The daemon is SIGKILLed; `start` brings up a new one that reaps the forwarder first.
    expect((await p.cli('start', '--all')).code).toBe(0);
    let [forwarder] = p.forwarders();
    await killHard(await daemonPid(), forwarder);
    const start = await p.cli('start', '--all');
    expect(start.stderr).not.toContain('in use');
    expect(start.code).toBe(0);
    expect(alive(forwarder.pid)).toBe(false);
    expect(JSON.parse((await p.cli('daemon', 'status', '--json')).stdout).orphansReaped).toBeGreaterThanOrEqual(1);
    expect(await httpGet(p.local)).toBe('behind the wrapper');

    // The daemon is SIGKILLed again; this time a foreground `run` cleans up after it.
    [forwarder] = p.forwarders();
    await killHard(await daemonPid(), forwarder);
    const run = await p.cli('run', '--', ...fetchThrough(p.local));
    expect(run.code).toBe(0);
    expect(run.stdout).toBe('behind the wrapper\n');
    expect(alive(forwarder.pid)).toBe(false);

    // A SIGKILLed `run`; the daemon's `start` cleans up after it.
    const cli = startCli(['run'], { cwd: p.dir, env: p.env });
    await cli.waitFor(/fwd\s+exec\s+ready/);
    [forwarder] = p.forwarders();
    await killHard(cli.child.pid!, forwarder);
    expect((await p.cli('start', '--all')).code).toBe(0);
    expect(alive(forwarder.pid)).toBe(false);
    expect(await httpGet(p.local)).toBe('behind the wrapper');
    expect(alive(notOurs)).toBe(true);
  }, 60000);

  it('stop waits for the whole process group: a forked forwarder that takes its time to exit is gone when stop returns', async () => {
    const p = await project();
    // The forwarder needs 400 ms to exit after SIGTERM (closing connections, say), the wrapper exits at
    // once, and the forwarder writes to a file of its own rather than to the wrapper's stdout (else the
    // open pipe alone would keep the tunnel looking alive).
    const file = path.join(p.dir, 'localport.yaml');
    const slowToDie = `process.on('SIGTERM', () => setTimeout(() => process.exit(0), 400)); require(${JSON.stringify(RELAY)})`;
    const forwarderArgs = ['sh', '-c', 'exec "$0" "$@" >/dev/null 2>&1', 'node', '-e', slowToDie, '--', 'relay', '{localPort}', '127.0.0.1', '{remotePort}', p.dir];
    writeFileSync(file, readFileSync(file, 'utf8').replace(/args: .*/, `args: ${JSON.stringify(forwarderArgs)}`));
    expect((await p.cli('start', '--all')).code).toBe(0);
    const forwarder = processes().find((x) => x.cmd.startsWith('node -e') && x.cmd.includes(p.dir) && alive(x.pid))!;
    expect(processes().find((x) => x.pid === forwarder.ppid)?.cmd).toContain(WRAPPER);
    expect((await p.cli('stop', '--all')).code).toBe(0);
    // `stop` has returned: the forwarder is already gone, and its port is free for the next start.
    expect(alive(forwarder.pid)).toBe(false);
    expect((await p.cli('start', '--all')).code).toBe(0);
  });

  it('a forwarder that a wrapper started in a session of its own (setsid), holding the pipes, neither hangs a stop nor survives it', async () => {
    const p = await project();
    // setsid-wrapper.sh: socat leaves the tunnel's process group, keeps the wrapper's stdout and stderr
    // open, and the wrapper passes no signal on. Only the tunnel's marker still says whose it is.
    const file = path.join(p.dir, 'localport.yaml');
    writeFileSync(file, readFileSync(file, 'utf8').replace(WRAPPER, SETSID_WRAPPER));
    const t0 = Date.now();
    const r = await p.cli('run', '--', ...fetchThrough(p.local));
    expect(r.stdout).toBe('behind the wrapper\n');
    expect(r.code).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15000);
    expect(p.forwarders()).toEqual([]);

    // The daemon: `stop` returns, and nothing of the tunnel is left to hold the port.
    expect((await p.cli('start', '--all')).code).toBe(0);
    const [escaped] = p.forwarders();
    expect(escaped).toBeDefined();
    expect(processes().find((x) => x.pid === escaped.ppid)?.cmd).toContain(SETSID_WRAPPER);
    const stop = await p.cli('stop', '--all');
    expect(stop.code).toBe(0);
    expect(alive(escaped.pid)).toBe(false);
    expect((await p.cli('start', '--all')).code).toBe(0);
    expect(await httpGet(p.local)).toBe('behind the wrapper');
  }, 40000);

  it('keeps secrets out of every state file: tunnels are recorded by identity only, files 0600, directories 0700', async () => {
    const p = await project({ secret: true });
    const secret = p.env.LP_TOKEN!;
    const stateDir = p.env.LOCALPORT_STATE_DIR!;
    const scan = () => {
      const entries = readdirSync(stateDir, { recursive: true, withFileTypes: true }).map((e) => ({
        entry: e,
        file: path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name),
      }));
      const files = entries.filter((e) => e.entry.isFile()).map((e) => e.file);
      const dirs = [stateDir, ...entries.filter((e) => e.entry.isDirectory()).map((e) => e.file)];
      return {
        files,
        leaking: files.filter((f) => readFileSync(f, 'latin1').includes(secret)),
        badFiles: files.filter((f) => (statSync(f).mode & 0o777) !== 0o600).map((f) => `${f} ${(statSync(f).mode & 0o777).toString(8)}`),
        badDirs: dirs.filter((d) => (statSync(d).mode & 0o777) !== 0o700).map((d) => `${d} ${(statSync(d).mode & 0o777).toString(8)}`),
      };
    };
    // The secret really is in the tunnel's command line: what a recorded command line would leak.
    const check = () => {
      const [forwarder] = p.forwarders();
      expect(forwarder.cmd).toContain(secret);
      const s = scan();
      expect(s.files.some((f) => /\.children\.\d+\.json$/.test(f))).toBe(true);
      expect(s.leaking).toEqual([]);
      expect(s.badFiles).toEqual([]);
      expect(s.badDirs).toEqual([]);
    };

    const cli = startCli(['run'], { cwd: p.dir, env: p.env });
    await cli.waitFor(/fwd\s+exec\s+ready/);
    check();
    cli.child.kill('SIGINT');
    expect((await cli.exited).code).toBe(130);

    expect((await p.cli('start', '--all')).code).toBe(0);
    check();
    expect((await p.cli('daemon', 'stop')).code).toBe(0);
    expect(scan().leaking).toEqual([]);
  });
});
