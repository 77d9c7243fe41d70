import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { daemonId } from '../../app/control/sockets.js';
import { runCli } from '../helpers/cli.js';
import { freePort, httpGet, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer, hasSshd } from '../helpers/peers.js';
import { daemonsIn } from '../helpers/daemons.js';
import { alive, processes, waitUntil } from '../helpers/procs.js';
import { sshConnection, startSshd, type SshdPeer } from '../helpers/sshd.js';

// Issue 10, item 7: the daemon stays findable and stoppable when its state dir (or its socket file)
// is deleted. The built CLI, its detached daemon, a real sshd and real ssh tunnels.


interface Status {
  running: boolean;
  runner: { mode: string; pid: number } | null;
  services: { name: string; state: string; pid: number | null; health: { state: string } | null }[];
}

describeWithPeer('OpenSSH sshd', hasSshd, 'the daemon without its state dir', () => {
  let sshd: SshdPeer;
  let web: HttpPeer;
  const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-state-'));
  const started: number[] = [];

  beforeAll(async () => {
    [sshd, web] = await Promise.all([startSshd(), startHttpServer('one')]);
  });
  const projects: { dir: string; ports: number[] }[] = [];
  afterEach(() => {
    // Whatever a failed test left running (a second daemon, say), by PID.
    for (const { dir, ports } of projects.splice(0)) {
      started.push(...daemonsIn(dir), ...processes().filter((p) => ports.some((port) => p.cmd.includes(`:${port}:`))).map((p) => p.pid));
    }
    for (const pid of started.splice(0)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  });
  afterAll(async () => {
    await Promise.all([sshd?.stop(), web?.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  async function project(names: string[], tmp: string) {
    const dir = mkdtempSync(path.join(root, 'p-'));
    mkdirSync(tmp, { recursive: true });
    // XDG_RUNTIME_DIR unset, as on a server or in a container; a private TMPDIR so removing the socket
    // directory touches nothing but this test.
    const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state'), XDG_RUNTIME_DIR: undefined, TMPDIR: tmp };
    const ports: Record<string, number> = {};
    for (const n of names) ports[n] = await freePort();
    projects.push({ dir, ports: Object.values(ports) });
    const c = sshConnection(sshd);
    const file = path.join(dir, 'localport.yaml');
    writeFileSync(
      file,
      `services:\n${names
        .map(
          (n) => `  - name: ${n}
    technology: ssh
    local_port: ${ports[n]}
    remote_port: ${web.port}
    health_check: { type: tcp, interval: 0.5 }
    connection: { host: 127.0.0.1, port: ${c.port}, key_file: ${c.key_file}, known_hosts_file: ${c.known_hosts_file}, remote_host: 127.0.0.1, options: { KexAlgorithms: curve25519-sha256 } }
`,
        )
        .join('')}`,
    );
    const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });
    const status = async (): Promise<Status> => {
      const r = await cli('status', '--output', 'json');
      expect(r.stderr).toBe('');
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout) as Status;
    };
    return { dir, env, ports, file, cli, status, id: daemonId(file) };
  }

  it('rm -rf of the state dir: status still shows the services, start spawns no second daemon, daemon stop stops it and its tunnels', async () => {
    const p = await project(['a', 'b'], path.join(root, 'tmp-a'));
    expect((await p.cli('start', '--all')).code).toBe(0);
    const before = await p.status();
    const daemon = before.runner!.pid;
    const tunnels = before.services.map((s) => s.pid!);
    started.push(daemon, ...tunnels);
    expect(before.services.map((s) => s.state)).toEqual(['ready', 'ready']);

    rmSync(p.env.LOCALPORT_STATE_DIR, { recursive: true, force: true });

    const after = await p.status();
    expect(after.running).toBe(true);
    expect(after.runner!.pid).toBe(daemon);
    expect(after.services.map((s) => [s.name, s.state, s.pid])).toEqual([
      ['a', 'ready', tunnels[0]],
      ['b', 'ready', tunnels[1]],
    ]);

    const again = await p.cli('start', '--all');
    expect(again.code).toBe(0);
    expect(again.stderr).not.toMatch(/started the LocalPort daemon/);
    expect(daemonsIn(p.dir)).toEqual([daemon]);
    expect((await p.status()).services.map((s) => s.pid)).toEqual(tunnels);
    expect(await httpGet(p.ports.a)).toBe('one');

    // It writes its state files again, private as before.
    const run = path.join(p.env.LOCALPORT_STATE_DIR, 'run');
    await waitUntil(() => existsSync(path.join(run, `${p.id}.daemon.json`)) && existsSync(path.join(run, `${p.id}.children.${daemon}.json`)), 5000, 'state files re-created');
    expect(statSync(run).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(run, `${p.id}.daemon.json`)).mode & 0o777).toBe(0o600);
    expect(statSync(path.join(run, `${p.id}.children.${daemon}.json`)).mode & 0o777).toBe(0o600);
    await waitUntil(async () => /the daemon log was deleted; writing a new one/.test((await p.cli('logs', '-n', '20')).stdout), 5000, 'daemon log re-created');

    rmSync(p.env.LOCALPORT_STATE_DIR, { recursive: true, force: true });
    const stop = await p.cli('daemon', 'stop', '--json');
    expect(stop.code).toBe(0);
    expect(JSON.parse(stop.stdout)).toMatchObject({ stopped: true, pid: daemon });
    expect(alive(daemon)).toBe(false);
    await waitUntil(() => tunnels.every((t) => !alive(t)), 3000, 'tunnels gone');
    expect(JSON.parse((await p.cli('daemon', 'status', '--json')).stdout)).toMatchObject({ running: false });
  }, 60000);

  it('a deleted socket file is re-created: status and stop find the daemon at once, start spawns no second one', async () => {
    const tmp = path.join(root, 'tmp-b');
    const p = await project(['a'], tmp);
    expect((await p.cli('start', '--all')).code).toBe(0);
    const st = await p.status();
    const daemon = st.runner!.pid;
    started.push(daemon, st.services[0].pid!);
    const socketDir = path.join(tmp, `localport-${process.getuid!()}`);
    expect(JSON.parse((await p.cli('daemon', 'status', '--json')).stdout).socket).toBe(path.join(socketDir, `${p.id}.sock`));

    // What a temp cleaner does; the state dir goes too.
    rmSync(socketDir, { recursive: true, force: true });
    rmSync(p.env.LOCALPORT_STATE_DIR, { recursive: true, force: true });
    const again = await p.cli('start', '--all');
    expect(again.code).toBe(0);
    expect(again.stderr).not.toMatch(/started the LocalPort daemon/);
    expect(daemonsIn(p.dir)).toEqual([daemon]);
    expect(statSync(socketDir).mode & 0o777).toBe(0o700);
    expect((await p.status()).runner!.pid).toBe(daemon);

    const stop = await p.cli('daemon', 'stop', '--json');
    expect(JSON.parse(stop.stdout)).toMatchObject({ stopped: true, pid: daemon });
    expect(alive(daemon)).toBe(false);
  }, 60000);

  it('four starts at the same moment leave one daemon, and all four name it', async () => {
    const p = await project(['a'], path.join(root, 'tmp-d'));
    const runs = await Promise.all([1, 2, 3, 4].map(() => p.cli('daemon', 'start', '--json')));
    const pids = runs.map((r) => JSON.parse(r.stdout).pid as number);
    started.push(...pids);
    expect(new Set(pids).size).toBe(1);
    // The losers were spawned too: each sees the winner's lock and exits.
    await waitUntil(() => daemonsIn(p.dir).length === 1, 5000, 'one daemon left');
    expect(daemonsIn(p.dir)).toEqual([pids[0]]);
    expect(JSON.parse((await p.cli('daemon', 'stop', '--json')).stdout)).toMatchObject({ stopped: true, pid: pids[0] });
    expect(daemonsIn(p.dir)).toEqual([]);
  });

  it('a daemon started with another TMPDIR is found through its own environment', async () => {
    const p = await project(['a'], path.join(root, 'tmp-c'));
    expect((await p.cli('daemon', 'start')).code).toBe(0);
    const info = JSON.parse((await p.cli('daemon', 'status', '--json')).stdout);
    started.push(info.pid);
    const elsewhere = { ...p.env, TMPDIR: path.join(root, 'tmp-other') };
    mkdirSync(elsewhere.TMPDIR, { recursive: true });
    const r = await runCli(['daemon', 'stop', '--json'], { cwd: p.dir, env: elsewhere });
    expect(JSON.parse(r.stdout)).toMatchObject({ stopped: true, pid: info.pid });
  });

  it('a TMPDIR too long for a socket path falls back to /tmp/localport-<uid>', async () => {
    const long = path.join(root, 'l'.repeat(110)); // sun_path holds 104 bytes on macOS, 108 on Linux
    const p = await project(['a'], long);
    expect((await p.cli('daemon', 'start')).code).toBe(0);
    const info = JSON.parse((await p.cli('daemon', 'status', '--json')).stdout);
    started.push(info.pid);
    expect(info).toMatchObject({ running: true, socket: `/tmp/localport-${process.getuid!()}/${p.id}.sock` });
    expect(JSON.parse((await p.cli('daemon', 'stop', '--json')).stdout)).toMatchObject({ stopped: true, pid: info.pid });
  });
});
