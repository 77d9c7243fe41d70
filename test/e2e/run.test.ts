import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { hasStack, runCli, startCli } from '../helpers/cli.js';
import { freePort, startHttpServer, waitForHttp, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer, hasSshd } from '../helpers/peers.js';
import { processesMatching, sshTunnels, waitUntil } from '../helpers/procs.js';
import { sshConnection, startSshd, type SshdPeer } from '../helpers/sshd.js';

// The built CLI, a real OpenSSH sshd on 127.0.0.1, the system ssh client and a real HTTP server.

describeWithPeer('OpenSSH sshd', hasSshd, 'localport run through a real sshd', () => {
  let sshd: SshdPeer;
  let web: HttpPeer;
  const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-run-'));
  const env = { LOCALPORT_STATE_DIR: path.join(root, 'state') };

  beforeAll(async () => {
    [sshd, web] = await Promise.all([startSshd(), startHttpServer('hello from behind the bastion')]);
  });
  afterAll(async () => {
    await Promise.all([sshd?.stop(), web?.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  /** A project dir with a localport.yaml holding the given services; returns dir and the web port. */
  async function project(extra: (local: number) => string = () => '', connectionExtra = ''): Promise<{ dir: string; local: number }> {
    const dir = mkdtempSync(path.join(root, 'p-'));
    const local = await freePort();
    const c = sshConnection(sshd);
    writeFileSync(
      path.join(dir, 'localport.yaml'),
      `services:
  - name: web
    technology: ssh
    local_port: ${local}
    remote_port: ${web.port}
    tags: [http]
    restart_policy:
      initial_delay: 0.1
    connection:
      host: 127.0.0.1
      port: ${c.port}
      user: ${c.user}
      key_file: ${c.key_file}
      known_hosts_file: ${c.known_hosts_file}
      remote_host: 127.0.0.1
      options:
        KexAlgorithms: curve25519-sha256
${connectionExtra}${extra(local)}`,
    );
    return { dir, local };
  }

  const fetchScript = 'fetch(`http://${process.env.LOCALPORT_WEB_HOST}:${process.env.LOCALPORT_WEB_PORT}/`).then(r => r.text()).then(t => console.log(t))';
  // Its own ssh, or the shared master it rides on.
  const tunnels = (local: number) => sshTunnels(local, sshd.port);

  it('runs the command against the forward, prints its output, and exits 0 leaving no ssh behind', async () => {
    const { dir, local } = await project();
    const r = await runCli(['run', 'web', '--', 'node', '-e', fetchScript], { cwd: dir, env });
    expect(r.stderr).toContain(`web: healthy on localhost:${local}`);
    expect(r.stdout).toBe('hello from behind the bastion\n');
    expect(r.code).toBe(0);
    expect(tunnels(local)).toEqual([]);
  });

  it("exits with the command's exit code", async () => {
    const { dir, local } = await project();
    const r = await runCli(['run', '-t', 'http', '--', 'node', '-e', 'process.exit(7)'], { cwd: dir, env });
    expect(r.code).toBe(7);
    expect(tunnels(local)).toEqual([]);
  });

  it('exits 127 with a clear message when the command does not exist, leaving no ssh behind', async () => {
    const { dir, local } = await project();
    const r = await runCli(['run', '--', 'no-such-command-4711', '--flag'], { cwd: dir, env });
    expect(r.code).toBe(127);
    expect(r.stderr).toContain('error: command not found: no-such-command-4711');
    expect(hasStack(r.stderr)).toBe(false);
    expect(tunnels(local)).toEqual([]);
    // With -o json, the error is a JSON document too (the status document went to stderr, the command's stdout stays its own).
    const json = await runCli(['run', '-o', 'json', '--', 'no-such-command-4711'], { cwd: dir, env });
    expect(json.code).toBe(127);
    expect(JSON.parse(json.stdout)).toMatchObject({ schemaVersion: 1, error: { code: 'COMMAND_NOT_FOUND', message: 'command not found: no-such-command-4711' } });
    expect(json.stderr).not.toContain('error:');
  });

  it('fails fast without running the command when a service cannot start', async () => {
    const [closed, brokenPort] = [await freePort(), await freePort()];
    const { dir } = await project(() => `  - name: broken\n    technology: ssh\n    local_port: ${brokenPort}\n    remote_port: 80\n    connection:\n      host: 127.0.0.1\n      port: ${closed}\n      key_file: ${sshd.clientKey}\n`);
    const marker = path.join(dir, 'ran');
    const r = await runCli(['run', '--', 'node', '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x')`], { cwd: dir, env });
    expect(r.code).toBe(1);
    // Said once (in the progress tree), not again below it; the hint names the service's own log.
    expect(r.stderr.split(`service broken: connection refused by 127.0.0.1:${closed}`)).toHaveLength(2);
    expect(r.stderr).toMatch(/Logs: \S+\/logs\/services\/[^/]+\/broken\.log$/m);
    expect(r.stderr).toMatch(/1 of 2 services could not start \(broken\); the command was not run/);
    expect(existsSync(marker)).toBe(false);
    expect(hasStack(r.stderr)).toBe(false);
    expect(processesMatching(`:127.0.0.1:${web.port}`).filter((p) => p.cmd.startsWith('ssh') && p.cmd.includes(dir))).toEqual([]);
  });

  it('in the foreground, brings a kill -9ed tunnel back within about a second, then stops cleanly on SIGINT', async () => {
    const { dir, local } = await project();
    const cli = startCli(['run'], { cwd: dir, env });
    try {
      await cli.waitFor(/web\s+ssh\s+ready/);
      const [ssh] = tunnels(local);
      expect(ssh).toBeDefined();
      process.kill(ssh.pid, 'SIGKILL');
      const took = await waitForHttp(local, 3000);
      expect(took).toBeLessThan(1500);
      await cli.waitFor(/web: restarting → ready/);
      expect(cli.stdout()).toMatch(/web: ready → restarting \(ssh process was killed by SIGKILL\)/);
      cli.child.kill('SIGINT');
      const r = await cli.exited;
      expect(r.code).toBe(130);
      expect(r.stdout).toContain('SIGINT: stopping 1 service');
      expect(tunnels(local)).toEqual([]);
    } finally {
      cli.child.kill('SIGKILL');
    }
  });

  it('passes SIGTERM to the command first, then tears down and exits with its code', async () => {
    const { dir, local } = await project();
    const got = path.join(dir, 'got-term');
    const script = `process.on('SIGTERM', () => { require('fs').writeFileSync(${JSON.stringify(got)}, 'term'); process.exit(5); }); console.log('waiting'); setInterval(() => {}, 1000);`;
    const cli = startCli(['run', '--', 'node', '-e', script], { cwd: dir, env });
    await cli.waitFor(/waiting/);
    cli.child.kill('SIGTERM');
    const r = await cli.exited;
    expect(readFileSync(got, 'utf8')).toBe('term');
    expect(r.code).toBe(5);
    expect(tunnels(local)).toEqual([]);
  });

  it('never writes a substituted secret to its logs or errors', async () => {
    const SECRET = 'tok-e2e-31337-secret';
    const stateDir = path.join(root, 'state-secret');
    const { dir, local } = await project(() => '', '        SetEnv: "LP_TOKEN=${LP_TOKEN}"\n');
    const r = await runCli(['run', '--log-level', 'debug', '--', 'node', '-e', fetchScript], { cwd: dir, env: { LOCALPORT_STATE_DIR: stateDir, LP_TOKEN: SECRET } });
    expect(r.code).toBe(0);
    expect(r.stdout + r.stderr).not.toContain(SECRET);
    const serviceLogs = readdirSync(path.join(stateDir, 'logs', 'services'), { recursive: true, withFileTypes: true })
      .filter((e) => e.isFile())
      .map((e) => path.join(e.parentPath ?? (e as unknown as { path: string }).path, e.name));
    expect(serviceLogs.length).toBeGreaterThan(0);
    const logs = [path.join(stateDir, 'logs', 'localport.log'), ...serviceLogs];
    const text = logs.map((f) => readFileSync(f, 'utf8')).join('\n');
    // The spawn line is logged (so the redaction is what keeps the secret out).
    expect(text).toContain('SetEnv=LP_TOKEN=***');
    expect(text).not.toContain(SECRET);
    expect(tunnels(local)).toEqual([]);

    // And in an error: the secret is the host name ssh cannot resolve.
    const bad = await runCli(['run', '--', 'true'], {
      cwd: (await projectWithHost('${SECRET_HOST}')).dir,
      env: { LOCALPORT_STATE_DIR: stateDir, SECRET_HOST: 'secret-host-4242.invalid' },
    });
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('service web: unknown host ***');
    expect(bad.stderr).not.toContain('secret-host-4242');
  });

  async function projectWithHost(host: string) {
    const dir = mkdtempSync(path.join(root, 'h-'));
    writeFileSync(path.join(dir, 'localport.yaml'), `services:\n  - name: web\n    technology: ssh\n    local_port: ${await freePort()}\n    remote_port: 80\n    connection:\n      host: "${host}"\n`);
    return { dir };
  }

  it('prints the run summary as JSON with --output json', async () => {
    const { dir, local } = await project();
    const r = await runCli(['--output', 'json', 'run', '--', 'true'], { cwd: dir, env });
    expect(r.code).toBe(0);
    const summary = JSON.parse(r.stderr.slice(r.stderr.indexOf('{')));
    expect(summary.services).toEqual([
      expect.objectContaining({ name: 'web', technology: 'ssh', state: 'ready', localAddress: '127.0.0.1', localPort: local, remotePort: web.port, restarts: 0, lastError: null }),
    ]);
    await waitUntil(() => tunnels(local).length === 0, 1000, 'no tunnel left');
  });
});
