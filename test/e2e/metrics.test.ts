import { execFile } from 'node:child_process';
import net from 'node:net';
import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { daemonsIn, stopProjects, type TestProject } from '../helpers/daemons.js';
import { freePort, httpGet, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { CURL, describeWithPeer, hasCurl, hasSshd } from '../helpers/peers.js';
import { parsePrometheus, sampleValue } from '../helpers/prometheus.js';
import { waitUntil } from '../helpers/procs.js';
import { sshConnection, startSshd, type SshdPeer } from '../helpers/sshd.js';
import { daemonPaths } from '../../app/control/sockets.js';

// Issue #14, acceptance 3: `curl` of the daemon's /metrics returns valid Prometheus text with the
// per-service connection and byte counters, parsed by a strict parser. The daemon runs two ssh
// services through a real sshd (one shared OpenSSH master); the real curl scrapes it, as Prometheus
// or a user would. Also: who is refused (403), where it listens, the token file.

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-metrics-'));
const projects: TestProject[] = [];
let sshd: SshdPeer;
let web: HttpPeer;
// Large enough to tell the answers (out) from the requests (in) by their size.
const BODY = 'through ssh, counted. '.repeat(100);

beforeAll(async () => {
  if (!hasSshd || !hasCurl) return;
  [sshd, web] = await Promise.all([startSshd(), startHttpServer(BODY)]);
}, 30000);
afterAll(async () => {
  await stopProjects(projects);
  await Promise.all([sshd?.stop(), web?.close()]);
  rmSync(root, { recursive: true, force: true });
}, 30000);

function project(config: unknown): TestProject & { file: string } {
  const dir = mkdtempSync(path.join(root, 'p-'));
  const file = path.join(dir, 'localport.yaml');
  writeFileSync(file, JSON.stringify(config, null, 2));
  const p = { dir, file, env: { LOCALPORT_STATE_DIR: path.join(dir, 'state') } };
  projects.push(p);
  return p;
}

/** The real curl: `-q` ignores a ~/.curlrc, `-g` leaves IPv6 brackets alone; the status code on the last line. */
function curl(url: string, ...args: string[]): Promise<{ status: number; body: string; headers: string }> {
  return new Promise((resolve, reject) =>
    execFile(CURL!, ['-q', '-g', '-sS', '--max-time', '10', '-D', '-', '-w', '\n%{http_code}', ...args, url], { encoding: 'utf8' }, (err, stdout, stderr) => {
      if (err) return reject(new Error(`curl ${url}: ${stderr}`));
      const nl = stdout.lastIndexOf('\n');
      const [headers, ...body] = stdout.slice(0, nl).split('\r\n\r\n');
      resolve({ status: Number(stdout.slice(nl + 1)), headers, body: body.join('\r\n\r\n') });
    }),
  );
}

describeWithPeer('OpenSSH sshd and curl', hasSshd && hasCurl, "the daemon's Prometheus /metrics", () => {
  let p: ReturnType<typeof project>;
  let ui: { url: string; listen: string[]; opened: boolean };
  let port: number;
  let token: string;
  const local = { a: 0, b: 0 };
  const metricsUrl = (host = '127.0.0.1', tok = token) => `http://${host}:${port}/metrics${tok === '' ? '' : `?token=${tok}`}`;
  const scrape = async () => {
    const r = await curl(metricsUrl());
    expect(r.status).toBe(200);
    expect(r.headers).toMatch(/^content-type: text\/plain; version=0\.0\.4; charset=utf-8$/im);
    return parsePrometheus(r.body);
  };

  beforeAll(async () => {
    local.a = await freePort();
    local.b = await freePort();
    const service = (name: string, localPort: number) => ({
      name,
      technology: 'ssh',
      local_port: localPort,
      remote_port: web.port,
      health_check: { type: 'tcp', interval: 1 },
      connection: sshConnection(sshd, { remote_host: '127.0.0.1' }),
    });
    p = project({ services: [service('a', local.a), service('b', local.b)] });
    const started = await runCli(['start'], { cwd: p.dir, env: p.env, timeoutMs: 60000 });
    expect({ code: started.code, stderr: started.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const shown = await runCli(['ui', '--no-open', '--output', 'json'], { cwd: p.dir, env: p.env });
    expect(shown.code).toBe(0);
    ui = JSON.parse(shown.stdout) as typeof ui;
    const m = /^http:\/\/127\.0\.0\.1:(\d+)\/\?token=([A-Za-z0-9_-]{43})$/.exec(ui.url);
    expect(m).not.toBeNull();
    port = Number(m![1]);
    token = m![2];
  }, 90000);

  it('returns valid Prometheus text whose per-service connection and byte counters follow the traffic', async () => {
    expect(ui.opened).toBe(false);
    const before = await scrape();
    for (const s of ['a', 'b']) {
      expect(sampleValue(before, 'localport_service_state', { service: s, state: 'ready' })).toBe(1);
      expect(sampleValue(before, 'localport_service_health', { service: s, health: 'healthy' })).toBe(1);
      expect(sampleValue(before, 'localport_health_check_duration_seconds', { service: s, check: 'tcp' })).toBeGreaterThan(0);
      expect(sampleValue(before, 'localport_service_restarts_total', { service: s })).toBe(0);
      expect(sampleValue(before, 'localport_service_failed_attempts_total', { service: s })).toBe(0);
    }
    // Both ride on one OpenSSH master: the same connection for each.
    const conn = before.get('localport_service_connection_info')!.samples;
    expect(conn.map((c) => c.labels.service).sort()).toEqual(['a', 'b']);
    expect(new Set(conn.map((c) => c.labels.connection)).size).toBe(1);
    expect(conn[0].labels).toMatchObject({ connection: expect.stringMatching(/^ssh#\d+$/), endpoint: `${sshd.user}@127.0.0.1:${sshd.port}` });

    const total = (f: typeof before, s: string) => sampleValue(f, 'localport_service_connections_total', { service: s });
    const bytes = (f: typeof before, s: string, dir: 'received' | 'sent') => sampleValue(f, `localport_service_${dir}_bytes_total`, { service: s });
    for (let i = 0; i < 3; i++) expect(await httpGet(local.a)).toBe(BODY);
    const after = await scrape();
    expect(total(after, 'a') - total(before, 'a')).toBe(3);
    // Each request's headers in; each answer's body (and headers) out.
    const received = bytes(after, 'a', 'received') - bytes(before, 'a', 'received');
    expect(received).toBeGreaterThanOrEqual(3 * 'GET / HTTP/1.1\r\n'.length);
    expect(received).toBeLessThan(3 * 500);
    expect(bytes(after, 'a', 'sent') - bytes(before, 'a', 'sent')).toBeGreaterThanOrEqual(3 * BODY.length);
    // A gauge, not a counter: the last connection may still be closing.
    expect(sampleValue(after, 'localport_service_connections_active', { service: 'a' })).toBeLessThanOrEqual(1);
    // The other service saw none of it.
    expect(total(after, 'b')).toBe(total(before, 'b'));
    expect(bytes(after, 'b', 'sent')).toBe(bytes(before, 'b', 'sent'));

    // The same with the token in a bearer header (how Prometheus sends a credentials_file), and over ::1.
    const bearer = await curl(metricsUrl('127.0.0.1', ''), '-H', `Authorization: Bearer ${token}`);
    expect(bearer.status).toBe(200);
    expect(total(parsePrometheus(bearer.body), 'a')).toBe(total(after, 'a'));
    if (ui.listen.includes(`[::1]:${port}`)) expect((await curl(metricsUrl('[::1]'))).status).toBe(200);
  });

  it('a restarting service is not "healthy": health unknown in status JSON and /metrics until a check runs on the new tunnel', async () => {
    // Its own project, with a restart delayed long enough to look at: the outage a kill -9 makes.
    const q = project({
      defaults: { restart_policy: { initial_delay: 60, jitter: 0 } },
      services: [{ name: 'r', technology: 'ssh', local_port: await freePort(), remote_port: web.port, health_check: { type: 'tcp', interval: 0.5, startup_grace: 0 }, connection: sshConnection(sshd, { remote_host: '127.0.0.1' }) }],
    });
    expect((await runCli(['start'], { cwd: q.dir, env: q.env, timeoutMs: 60000 })).code).toBe(0);
    const status = async () => (JSON.parse((await runCli(['status', '-o', 'json'], { cwd: q.dir, env: q.env })).stdout) as { services: { state: string; pid: number; health: { state: string; lastCheck: string | null } }[] }).services[0];
    await waitUntil(async () => (await status()).health.state === 'healthy', 20000, 'r healthy');
    const shown = JSON.parse((await runCli(['ui', '--no-open', '--output', 'json'], { cwd: q.dir, env: q.env })).stdout) as { url: string };
    const url = shown.url.replace('/?token=', '/metrics?token=');
    const health = async (h: string) => sampleValue(parsePrometheus((await curl(url)).body), 'localport_service_health', { service: 'r', health: h });
    expect(await health('healthy')).toBe(1);

    process.kill((await status()).pid, 'SIGKILL');
    await waitUntil(async () => (await status()).state === 'restarting', 10000, 'r restarting');
    const during = await status();
    expect(during.health.state).toBe('unknown');
    // The last check's time stays, as the last word; it is no longer the verdict.
    expect(during.health.lastCheck).not.toBeNull();
    // An alert on `localport_service_health{health="healthy"} == 0` fires during the outage.
    expect(await health('healthy')).toBe(0);
    expect(await health('unknown')).toBe(1);
    expect((await runCli(['daemon', 'stop'], { cwd: q.dir, env: q.env })).code).toBe(0);
  }, 90000);

  it('prints the URL when no browser can be opened (no display), as --no-open does', async () => {
    const r = await runCli(['ui'], { cwd: p.dir, env: { ...p.env, DISPLAY: '', WAYLAND_DISPLAY: '' } });
    expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: expect.stringContaining(`${ui.url}\n`) });
  });

  it("opens the browser with a one-time URL: the token is never on the opener's command line, which every local user can read", async () => {
    // A stand-in for xdg-open (no desktop here): a separate program that, like the real one, gets the URL
    // as its argument; it writes its argument list where the test can read it.
    const bin = mkdtempSync(path.join(root, 'bin-'));
    const seen = path.join(bin, 'argv');
    writeFileSync(path.join(bin, 'xdg-open'), `#!/bin/sh\nprintf '%s\\n' "$@" > '${seen}'\n`, { mode: 0o755 });
    const r = await runCli(['ui'], { cwd: p.dir, env: { ...p.env, DISPLAY: ':99', PATH: `${bin}:${process.env.PATH}` } });
    expect(r.code).toBe(0);
    const argv = readFileSync(seen, 'utf8');
    expect(argv).not.toContain(token);
    const opened = new URL(argv.trim());
    expect(opened.searchParams.has('code')).toBe(true);
    // The browser's first visit spends the code and lands on the page with the token; a second is refused.
    const visit = await curl(opened.href);
    expect(visit.status).toBe(303);
    expect(visit.headers).toMatch(new RegExp(`\\r\\nlocation: /\\?token=${token}\\r\\n`, 'i'));
    expect((await curl(opened.href)).status).toBe(403);
  });

  it('answers 403, with nothing more, without the token, with a wrong one, or with a foreign Host', async () => {
    const refused = {
      'no token': await curl(metricsUrl('127.0.0.1', '')),
      'wrong token': await curl(metricsUrl('127.0.0.1', `${token.slice(0, -2)}xx`)),
      'wrong bearer': await curl(metricsUrl('127.0.0.1', ''), '-H', 'Authorization: Bearer nope'),
      'Host: evil.example': await curl(metricsUrl(), '-H', 'Host: evil.example'),
      'Host: evil.example:port': await curl(metricsUrl(), '-H', `Host: evil.example:${port}`),
    };
    for (const [why, r] of Object.entries(refused)) {
      expect({ why, status: r.status, body: r.body }).toEqual({ why, status: 403, body: 'forbidden\n' });
      expect(r.headers).not.toMatch(/access-control-/i);
    }
    // The page at / is behind the same checks; with them it links the metrics.
    expect((await curl(`http://127.0.0.1:${port}/`)).status).toBe(403);
    const page = await curl(ui.url);
    expect(page.status).toBe(200);
    expect(page.body).toContain(`href="metrics?token=${token}"`);
  });

  it('listens on loopback only (ss), and keeps its token in a 0600 file of the state dir', async () => {
    const ss = await new Promise<string>((resolve, reject) => execFile('ss', ['-ltnH', `sport = :${port}`], { encoding: 'utf8' }, (e, out) => (e ? reject(e) : resolve(out))));
    const addresses = ss
      .trim()
      .split('\n')
      .map((l) => l.trim().split(/\s+/)[3]);
    expect(addresses.sort()).toEqual([...ui.listen].sort());
    for (const a of addresses) expect(a).toMatch(new RegExp(`^(127\\.0\\.0\\.1|\\[::1\\]):${port}$`));

    const file = daemonPaths(p.file, { ...process.env, ...p.env }).uiToken;
    expect(readFileSync(file, 'utf8')).toBe(`${token}\n`);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('starts with the daemon on a port fixed by ui.port; the token file works as a credentials file and goes with the daemon', async () => {
    const uiPort = await freePort();
    const q = project({ ui: { port: uiPort }, services: [{ name: 'web', technology: 'tcp', local_port: await freePort(), remote_port: web.port, connection: { host: '127.0.0.1' } }] });
    expect((await runCli(['start'], { cwd: q.dir, env: q.env, timeoutMs: 30000 })).code).toBe(0);
    const file = daemonPaths(q.file, { ...process.env, ...q.env }).uiToken;
    const credentials = readFileSync(file, 'utf8').trim();
    const r = await curl(`http://localhost:${uiPort}/metrics`, '-H', `Authorization: Bearer ${credentials}`);
    expect(r.status).toBe(200);
    expect(sampleValue(parsePrometheus(r.body), 'localport_service_state', { service: 'web', state: 'ready' })).toBe(1);
    // Another port for a server that runs: refused, naming the one it has.
    const other = await runCli(['ui', '--no-open', '--port', String(uiPort === 65535 ? 65534 : uiPort + 1)], { cwd: q.dir, env: q.env });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain(`serves its HTTP server on port ${uiPort} already`);
    expect((await runCli(['daemon', 'stop'], { cwd: q.dir, env: q.env })).code).toBe(0);
    expect(existsSync(file)).toBe(false);
  }, 60000);

  it('a taken port: `ui --port` names --port and stops the daemon it started; a daemon that ran before keeps running; `daemon start --ui-port` names --ui-port', async () => {
    const taken = await freePort();
    const holder = net.createServer().listen(taken, '127.0.0.1');
    await new Promise((r) => holder.once('listening', r));
    try {
      const q = project({ services: [{ name: 'web', technology: 'tcp', local_port: await freePort(), remote_port: web.port, connection: { host: '127.0.0.1' } }] });
      const ui = await runCli(['ui', '--no-open', '--port', String(taken)], { cwd: q.dir, env: q.env, timeoutMs: 30000 });
      expect(ui.code).toBe(1);
      const started = /started the LocalPort daemon \(pid (\d+)\)/.exec(ui.stderr);
      expect(started).not.toBeNull();
      expect(ui.stderr).toContain(`error: the dashboard's port ${taken} is in use by pid ${process.pid}`);
      expect(ui.stderr).toContain(`the daemon this command started (pid ${started![1]}) was stopped again`);
      expect(ui.stderr).toMatch(/^hint: Pick another port with --port, or leave --port out/m);
      expect(ui.stderr).not.toContain('--ui-port');
      // Nothing left half-started.
      expect(daemonsIn(q.dir)).toEqual([]);
      expect((await runCli(['status'], { cwd: q.dir, env: q.env })).stdout).not.toMatch(/daemon \(pid \d+\) is running/);

      // A daemon that was running stays as it was, and says so.
      expect((await runCli(['daemon', 'start'], { cwd: q.dir, env: q.env })).code).toBe(0);
      const [pid] = daemonsIn(q.dir);
      const again = await runCli(['ui', '--no-open', '--port', String(taken)], { cwd: q.dir, env: q.env });
      expect(again.code).toBe(1);
      expect(again.stderr).toContain(`the daemon (pid ${pid}) keeps running as before, without its HTTP server`);
      expect(daemonsIn(q.dir)).toEqual([pid]);
      // …and serves the page once asked for a free port (or none).
      expect((await runCli(['ui', '--no-open'], { cwd: q.dir, env: q.env })).code).toBe(0);
      expect((await runCli(['daemon', 'stop'], { cwd: q.dir, env: q.env })).code).toBe(0);

      const daemonStart = await runCli(['daemon', 'start', '--ui-port', String(taken)], { cwd: q.dir, env: q.env, timeoutMs: 30000 });
      expect(daemonStart.code).toBe(1);
      expect(daemonStart.stderr).toMatch(/^hint: Pick another port with --ui-port, or leave --ui-port out/m);
      expect(daemonStart.stderr).toMatch(/the daemon this command started \(pid \d+\) was stopped again/);
      expect(daemonsIn(q.dir)).toEqual([]);
    } finally {
      holder.close();
    }
  }, 60000);
});
