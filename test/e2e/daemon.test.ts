import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { stopProjects } from '../helpers/daemons.js';
import { runCli, startCli } from '../helpers/cli.js';
import { freePort, httpGet, startHttpServer, waitForHttp, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer, hasSshd } from '../helpers/peers.js';
import { alive, processes, waitUntil } from '../helpers/procs.js';
import { sshConnection, startSshd, type SshdPeer } from '../helpers/sshd.js';

// The built CLI and its detached daemon; a real OpenSSH sshd and a real HTTP server behind it.

interface Status {
  running: boolean;
  reloadError: string | null;
  runner: { mode: string; pid: number } | null;
  services: { name: string; state: string; pid: number | null; remotePort: number; health: { state: string } | null; since: string | null; connection: { id: string; pid: number | null; services: number } | null }[];
}

describeWithPeer('OpenSSH sshd', hasSshd, 'the daemon', () => {
  let sshd: SshdPeer;
  let web: HttpPeer;
  let web2: HttpPeer;
  const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-daemon-'));
  let dirs: { dir: string; env: NodeJS.ProcessEnv }[] = [];

  beforeAll(async () => {
    [sshd, web, web2] = await Promise.all([startSshd(), startHttpServer('one'), startHttpServer('two')]);
  });
  // Whatever a test left running: its daemon, then anything of its directory, by PID.
  afterEach(() => stopProjects(dirs));
  afterAll(async () => {
    await Promise.all([sshd?.stop(), web?.close(), web2?.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  const c = () => sshConnection(sshd);
  const serviceYaml = (name: string, local: number, remote: number) => `  - name: ${name}
    technology: ssh
    local_port: ${local}
    remote_port: ${remote}
    health_check: { type: tcp, interval: 0.5 }
    restart_policy: { initial_delay: 0.1 }
    connection: { host: 127.0.0.1, port: ${c().port}, key_file: ${c().key_file}, known_hosts_file: ${c().known_hosts_file}, remote_host: 127.0.0.1, options: { KexAlgorithms: curve25519-sha256 } }
`;

  /** A project whose services all forward to `remote` (web by default); returns its dir, env and ports. */
  async function project(names: string[], remote = web.port, extraEnv: NodeJS.ProcessEnv = {}) {
    const dir = mkdtempSync(path.join(root, 'p-'));
    const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state'), ...extraEnv };
    dirs.push({ dir, env });
    const ports: Record<string, number> = {};
    for (const n of names) ports[n] = await freePort();
    const file = path.join(dir, 'localport.yaml');
    const write = (yaml: string) => writeFileSync(file, yaml);
    write(`services:\n${names.map((n) => serviceYaml(n, ports[n], remote)).join('')}`);
    const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });
    const status = async (): Promise<Status> => {
      const r = await cli('status', '--output', 'json');
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout) as Status;
    };
    const pids = async () => Object.fromEntries((await status()).services.map((s) => [s.name, s.pid]));
    return { dir, env, ports, file, write, cli, status, pids };
  }

  it('start --all, status with PIDs, stop --all, status stopped, no ssh left', async () => {
    const p = await project(['a', 'b', 'c']);
    const start = await p.cli('start', '--all');
    expect(start.stderr).toMatch(/started the LocalPort daemon \(pid \d+\)/);
    expect(start.code).toBe(0);
    const st = await p.status();
    expect(st.running).toBe(true);
    expect(st.runner!.mode).toBe('daemon');
    expect(st.services.map((s) => [s.name, s.state, s.health!.state])).toEqual([
      ['a', 'ready', 'healthy'],
      ['b', 'ready', 'healthy'],
      ['c', 'ready', 'healthy'],
    ]);
    const pids = st.services.map((s) => s.pid!);
    expect(pids.every((pid) => alive(pid))).toBe(true);
    expect(await httpGet(p.ports.b)).toBe('one');

    const again = await p.cli('daemon', 'start');
    expect(again.stdout).toMatch(/already running \(pid \d+\)/);

    const stop = await p.cli('stop', '--all');
    expect(stop.stdout).toBe('Stopped a, b, c.\n');
    expect((await p.status()).services.map((s) => s.state)).toEqual(['stopped', 'stopped', 'stopped']);
    expect(pids.filter((pid) => alive(pid))).toEqual([]);
  });

  it('start exits 1 naming a service that cannot start, and keeps the others up', async () => {
    const p = await project(['good']);
    const closed = await freePort();
    p.write(readFileSync(p.file, 'utf8') + serviceYaml('bad', await freePort(), web.port).replace(`port: ${c().port}`, `port: ${closed}`));
    const r = await p.cli('start', '--all');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('error: 1 of 2 services did not start: bad');
    expect(r.stderr).toContain(`connection refused by 127.0.0.1:${closed}`);
    const st = await p.status();
    expect(st.services.map((s) => [s.name, s.state])).toEqual([
      ['good', 'ready'],
      ['bad', 'failed'],
    ]);
    expect(await httpGet(p.ports.good)).toBe('one');
  });

  it('hot reload: only a changed service restarts, added ones start, removed ones stop, invalid YAML changes nothing', async () => {
    const p = await project(['a', 'b', 'c']);
    expect((await p.cli('start', '--all')).code).toBe(0);
    const before = await p.pids();
    // The three ride on one ssh master (same endpoint): a change of one adds and removes its forward
    // only; the others stay ready all along (their last state change is the first start).
    const since = async () => Object.fromEntries((await p.status()).services.map((s) => [s.name, s.since]));
    const sinceBefore = await since();
    expect(new Set(Object.values(before)).size).toBe(1);
    const yaml = readFileSync(p.file, 'utf8');

    // Change b's remote port.
    p.write(yaml.replace(`remote_port: ${web.port}\n    health_check: { type: tcp, interval: 0.5 }\n    restart_policy: { initial_delay: 0.1 }\n    connection: { host: 127.0.0.1, port: ${c().port}, key_file: ${c().key_file}, known_hosts_file: ${c().known_hosts_file}, remote_host: 127.0.0.1, options: { KexAlgorithms: curve25519-sha256 } }\n  - name: c`, `remote_port: ${web2.port}\n    health_check: { type: tcp, interval: 0.5 }\n    restart_policy: { initial_delay: 0.1 }\n    connection: { host: 127.0.0.1, port: ${c().port}, key_file: ${c().key_file}, known_hosts_file: ${c().known_hosts_file}, remote_host: 127.0.0.1, options: { KexAlgorithms: curve25519-sha256 } }\n  - name: c`));
    await waitUntil(async () => {
      const s = (await p.status()).services.find((x) => x.name === 'b')!;
      return s.remotePort === web2.port && s.state === 'ready';
    }, 10000, 'b restarted on the new remote port');
    const after = await p.pids();
    expect(after).toEqual(before);
    const sinceAfter = await since();
    expect({ a: sinceAfter.a, c: sinceAfter.c }).toEqual({ a: sinceBefore.a, c: sinceBefore.c });
    expect(sinceAfter.b).not.toBe(sinceBefore.b);
    expect(await httpGet(p.ports.b)).toBe('two');

    // Add d.
    const dPort = await freePort();
    const withB = readFileSync(p.file, 'utf8');
    p.write(withB + serviceYaml('d', dPort, web.port));
    await waitUntil(async () => (await p.status()).services.some((s) => s.name === 'd' && s.state === 'ready'), 10000, 'd started');
    expect(await httpGet(dPort)).toBe('one');

    // Remove c.
    const cStart = readFileSync(p.file, 'utf8').indexOf('  - name: c');
    const dStart = readFileSync(p.file, 'utf8').indexOf('  - name: d');
    const withD = readFileSync(p.file, 'utf8');
    p.write(withD.slice(0, cStart) + withD.slice(dStart));
    await waitUntil(async () => !(await p.status()).services.some((s) => s.name === 'c'), 10000, 'c removed');
    await expect(httpGet(p.ports.c, '127.0.0.1', 300)).rejects.toThrow();
    // The master stays for the services still on it.
    expect(alive(before.a!)).toBe(true);
    expect((await p.status()).services.find((s) => s.name === 'a')!.connection!.services).toBe(3);
    const good = await p.pids();

    // Invalid YAML: nothing changes, and status says why.
    const valid = readFileSync(p.file, 'utf8');
    p.write(`${valid}  - name: [broken\n`);
    await waitUntil(async () => (await p.status()).reloadError !== null, 10000, 'reload error in status');
    const broken = await p.status();
    expect(broken.reloadError).toMatch(/localport\.yaml:\d+:\d+: YAML syntax error/);
    expect(await p.pids()).toEqual(good);
    const table = await p.cli('status');
    expect(table.stdout).toContain('config reload failed; still running the previous config:');

    // Fixed: the reload applies (e added) and the error is gone.
    const ePort = await freePort();
    p.write(valid + serviceYaml('e', ePort, web2.port));
    await waitUntil(async () => {
      const s = await p.status();
      return s.reloadError === null && s.services.some((x) => x.name === 'e' && x.state === 'ready');
    }, 10000, 'fixed config applied');
    const final = await p.pids();
    expect({ a: final.a, b: final.b, d: final.d }).toEqual({ a: good.a, b: good.b, d: good.d });
  }, 60000);

  it('reloads when a preset file the config extends changes', async () => {
    const p = await project(['a']);
    const presetFile = path.join(p.dir, 'team-preset.yaml');
    const shared = await freePort();
    writeFileSync(presetFile, `services:\n${serviceYaml('shared', shared, web.port)}`);
    p.write(`extends: [./team-preset.yaml]\n${readFileSync(p.file, 'utf8')}`);
    expect((await p.cli('start', '--all')).code).toBe(0);
    const before = await p.pids();
    expect(Object.keys(before).sort()).toEqual(['a', 'shared']);
    expect(await httpGet(shared)).toBe('one');
    writeFileSync(presetFile, `services:\n${serviceYaml('shared', shared, web2.port)}`);
    await waitUntil(async () => (await p.status()).services.find((s) => s.name === 'shared')?.remotePort === web2.port, 10000, 'preset change applied');
    await waitUntil(async () => (await httpGet(shared).catch(() => '')) === 'two', 5000, 'shared forwards to the new port');
    expect((await p.pids()).a).toBe(before.a);
  });

  it('after kill -9 of the daemon, the next start reaps the orphaned tunnels (never another process) and starts cleanly', async () => {
    // Without the parent-death signal, the tunnels outlive a SIGKILLed daemon: the reaper's case.
    const p = await project(['a', 'b'], web.port, { LOCALPORT_NO_PDEATHSIG: '1' });
    expect((await p.cli('start', '--all')).code).toBe(0);
    const st = await p.status();
    const daemonPid = st.runner!.pid;
    // a and b share one ssh master: one tunnel process.
    const old = [...new Set(st.services.map((s) => s.pid!))];
    expect(old).toHaveLength(1);
    process.kill(daemonPid, 'SIGKILL');
    await waitUntil(() => !alive(daemonPid), 3000, 'daemon dead');
    expect(old.every((pid) => alive(pid))).toBe(true); // orphans, still forwarding

    const start = await p.cli('start', '--all');
    expect(start.code).toBe(0);
    expect(old.filter((pid) => alive(pid))).toEqual([]);
    const now = await p.status();
    expect(now.services.every((s) => s.state === 'ready' && !old.includes(s.pid!))).toBe(true);
    const info = JSON.parse((await p.cli('daemon', 'status', '--json')).stdout);
    expect(info.orphansReaped).toBe(1);
    const log = (await p.cli('logs', '-n', '200')).stdout;
    expect(log).toMatch(/reaped 1 orphaned tunnel process left by a killed LocalPort for this config/);
    expect(await httpGet(p.ports.a)).toBe('one');
  }, 30000);

  it('with the parent-death signal (the default on Linux), tunnels die with a SIGKILLed daemon', async () => {
    const p = await project(['a']);
    expect((await p.cli('start', '--all')).code).toBe(0);
    const st = await p.status();
    const tunnel = st.services[0].pid!;
    process.kill(st.runner!.pid, 'SIGKILL');
    await waitUntil(() => !alive(tunnel), 3000, 'tunnel gone with the daemon');
  });

  it('stops 20 services in well under 0.5 s, logging every shutdown phase', async () => {
    const names = Array.from({ length: 20 }, (_, i) => `s${i}`);
    const p = await project(names);
    expect((await p.cli('start', '--all', '--timeout', '30')).code).toBe(0);
    const pids = Object.values(await p.pids()) as number[];
    expect(pids.filter((x) => x && alive(x))).toHaveLength(20);
    const r = await p.cli('daemon', 'stop', '--json');
    const { stopped, ms } = JSON.parse(r.stdout);
    expect(stopped).toBe(true);
    expect(ms).toBeLessThan(500);
    expect(pids.filter((x) => alive(x))).toEqual([]);
    const log = (await p.cli('logs', '-n', '100')).stdout;
    for (const phase of ['1/4 stop-new-work', '2/4 complete-current', '3/4 cancel-tasks', '4/4 force-kill']) expect(log).toContain(`shutdown phase ${phase}`);
    expect(log).toMatch(/daemon stopped in \d+ ms/);
  }, 60000);

  it('owns its control socket with mode 0600 and survives garbage', async () => {
    const p = await project(['a']);
    expect((await p.cli('daemon', 'start')).code).toBe(0);
    const socket = JSON.parse((await p.cli('daemon', 'status', '--json')).stdout).socket as string;
    const st = statSync(socket);
    expect(st.isSocket()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expect(st.uid).toBe(process.getuid!());
    expect(statSync(path.dirname(socket)).mode & 0o777).toBe(0o700);

    const send = (payload: string | Buffer) =>
      new Promise<string>((resolve) => {
        const s = net.connect(socket);
        let out = '';
        s.on('data', (d) => (out += d));
        s.on('close', () => resolve(out));
        s.on('error', () => resolve(out));
        s.write(payload, () => setTimeout(() => s.end(), 200));
      });
    expect(JSON.parse(await send('this is not json\n'))).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST' } });
    expect(JSON.parse(await send('{"id":4,"method":"format-disk"}\n'))).toMatchObject({ id: 4, ok: false, error: { code: 'BAD_REQUEST' } });
    expect(JSON.parse(await send('{"id":5,"method":"start","params":{"names":[1]}}\n'))).toMatchObject({ id: 5, ok: false });
    expect(JSON.parse(await send(Buffer.alloc(1100 * 1024, 'x')))).toMatchObject({ ok: false, error: { code: 'MESSAGE_TOO_LARGE' } });
    expect(JSON.parse(await send('{"id":6,"method":"ping"}\n'))).toMatchObject({ id: 6, ok: true });
    expect((await p.cli('status', '--json')).code).toBe(0);
  });

  it('logs -f shows new output from a restarted tunnel, and --grep filters', async () => {
    const p = await project(['a']);
    expect((await p.cli('start', '--all')).code).toBe(0);
    const follow = startCli(['logs', 'a', '-f', '-n', '0'], { cwd: p.dir, env: p.env });
    try {
      await new Promise((r) => setTimeout(r, 300));
      const pid = (await p.pids()).a!;
      process.kill(pid, 'SIGKILL');
      await waitForHttp(p.ports.a, 5000);
      await follow.waitFor(/state restarting → ready/, 5000);
      // The service rides on a shared master: its lines are marked with the connection's id.
      expect(follow.stdout()).toMatch(/localport \[ssh#1\] exit SIGKILL/);
      expect(follow.stdout()).toMatch(/localport \[ssh#1\] spawn .*ssh -N/);
    } finally {
      follow.child.kill('SIGINT');
      await follow.exited;
    }
    const grep = await p.cli('logs', 'a', '--grep', 'spawn', '-n', '100');
    const lines = grep.stdout.trim().split('\n');
    expect(lines).toHaveLength(2); // the first start and the restart
    expect(lines.every((l) => l.includes('spawn'))).toBe(true);
    const logPath = (await p.cli('logs', 'a', '--path')).stdout.trim();
    expect(path.dirname(path.dirname(logPath))).toBe(path.join(p.env.LOCALPORT_STATE_DIR!, 'logs', 'services'));
    expect(path.basename(path.dirname(logPath))).toMatch(new RegExp(`^${path.basename(p.dir)}-[0-9a-f]{8}$`));
    expect(path.basename(logPath)).toBe('a.log');
    expect((await p.cli('logs', 'nope')).code).toBe(2);
  }, 30000);
});
