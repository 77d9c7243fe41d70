import { chmodSync, copyFileSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { freePort, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer, hasSshd } from '../helpers/peers.js';
import { startJumpPair, type JumpPair } from '../helpers/sshd.js';

// The built CLI, run from another working directory with `-c path/to/localport.yaml`, and two real sshd
// (a bastion and a host behind it, both on 127.0.0.1). The config names its key, its known_hosts file
// and its ssh_config by paths relative to its own directory: ssh must get the files next to the config.

describeWithPeer('OpenSSH sshd', hasSshd, 'ssh paths are relative to the config file, not the working directory', () => {
  let pair: JumpPair;
  let web: HttpPeer;
  const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-ssh-paths-'));
  const env = { LOCALPORT_STATE_DIR: path.join(root, 'state') };
  const user = os.userInfo().username;

  beforeAll(async () => {
    [pair, web] = await Promise.all([startJumpPair(), startHttpServer('behind the bastion')]);
  });
  afterAll(async () => {
    await Promise.all([pair?.stop(), web?.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  /** proj/config/localport.yaml, proj/keys/{id,known_hosts}, proj/config/ssh_config; `connection` is YAML. */
  async function project(connection: string, sshConfig = ''): Promise<{ config: string; local: number; dir: string }> {
    const dir = mkdtempSync(path.join(root, 'proj-'));
    mkdirSync(path.join(dir, 'config'));
    mkdirSync(path.join(dir, 'keys'));
    copyFileSync(pair.clientKey, path.join(dir, 'keys', 'id'));
    chmodSync(path.join(dir, 'keys', 'id'), 0o600);
    copyFileSync(pair.knownHosts, path.join(dir, 'keys', 'known_hosts'));
    if (sshConfig) writeFileSync(path.join(dir, 'config', 'ssh_config'), sshConfig, { mode: 0o600 });
    const local = await freePort();
    const config = path.join(dir, 'config', 'localport.yaml');
    writeFileSync(
      config,
      `services:
  - name: web
    technology: ssh
    local_port: ${local}
    remote_port: ${web.port}
    health_check: { type: tcp }
    connection:
      key_file: ../keys/id
      known_hosts_file: ../keys/known_hosts
      strict_host_key_checking: "yes"
      remote_host: 127.0.0.1
      options: { KexAlgorithms: curve25519-sha256, IdentitiesOnly: "yes" }
${connection}`,
    );
    return { config, local, dir };
  }

  const fetchScript = 'fetch(`http://127.0.0.1:${process.env.LOCALPORT_WEB_PORT}/`).then(r => r.text()).then(t => console.log(t))';

  it('run -c from elsewhere: key_file and known_hosts_file next to the config, for the jump host too', async () => {
    const { config } = await project(`      host: 127.0.0.1\n      port: ${pair.target.port}\n      user: ${user}\n      jump_host: ${user}@127.0.0.1:${pair.bastion.port}\n`);
    const elsewhere = mkdtempSync(path.join(root, 'cwd-'));
    const r = await runCli(['run', '-c', path.relative(elsewhere, config), '--', 'node', '-e', fetchScript], { cwd: elsewhere, env, timeoutMs: 30000 });
    expect(r.stdout).toBe('behind the bastion\n');
    expect(r.code).toBe(0);

    // doctor looks both hosts up in the resolved known_hosts file; without the bastion's line, its check fails.
    const doctor = async () => {
      const d = await runCli(['doctor', '-o', 'json', '-c', path.relative(elsewhere, config)], { cwd: elsewhere, env, timeoutMs: 30000 });
      return (JSON.parse(d.stdout) as { checks: { name: string; ok: boolean; detail: string }[] }).checks.find((c) => c.name.endsWith(`: known_hosts (jump host ${user}@127.0.0.1:${pair.bastion.port})`));
    };
    const knownHosts = path.join(path.dirname(path.dirname(config)), 'keys', 'known_hosts');
    expect(await doctor()).toMatchObject({ ok: true, detail: `[127.0.0.1]:${pair.bastion.port} is in ${knownHosts}` });
    writeFileSync(knownHosts, `[127.0.0.1]:${pair.target.port} ${pair.target.hostKeyPub}\n`);
    expect((await doctor())?.detail).toMatch(new RegExp(`^no key for \\[127\\.0\\.0\\.1\\]:${pair.bastion.port} in ${knownHosts}, and strict_host_key_checking is yes`));
  }, 40000);

  it('an ssh_config next to the config, whose Host alias is the service host; doctor checks the resolved files', async () => {
    const { config, dir } = await project(
      '      host: behind\n      ssh_config: ssh_config\n',
      `Host behind\n  HostName 127.0.0.1\n  Port ${pair.target.port}\n  User ${user}\n  ProxyJump ${user}@127.0.0.1:${pair.bastion.port}\n`,
    );
    const elsewhere = mkdtempSync(path.join(root, 'cwd-'));
    const r = await runCli(['run', '-c', path.relative(elsewhere, config), '--', 'node', '-e', fetchScript], { cwd: elsewhere, env, timeoutMs: 30000 });
    expect(r.stdout).toBe('behind the bastion\n');
    expect(r.code).toBe(0);

    const d = await runCli(['doctor', '-o', 'json', '-c', path.relative(elsewhere, config)], { cwd: elsewhere, env, timeoutMs: 30000 });
    const checks = (JSON.parse(d.stdout) as { checks: { name: string; ok: boolean; detail: string }[] }).checks;
    const named = (suffix: string) => checks.find((c) => c.name.endsWith(suffix));
    expect(named(': key_file')).toMatchObject({ ok: true, detail: `${path.join(dir, 'keys', 'id')} (mode 0600)` });
    expect(named(': ssh_config')).toMatchObject({ ok: true, detail: path.join(dir, 'config', 'ssh_config') });
    expect(named(': known_hosts')).toMatchObject({ ok: true, detail: `[127.0.0.1]:${pair.target.port} is in ${path.join(dir, 'keys', 'known_hosts')}` });
    expect(d.code).toBe(0);

    // A missing ssh_config is named at its resolved place, with the rule.
    rmSync(path.join(dir, 'config', 'ssh_config'));
    const missing = await runCli(['doctor', '-o', 'json', '-c', path.relative(elsewhere, config)], { cwd: elsewhere, env, timeoutMs: 30000 });
    const m = (JSON.parse(missing.stdout) as { checks: { name: string; ok: boolean; detail: string }[] }).checks.find((c) => c.name.endsWith(': ssh_config'));
    expect(m).toMatchObject({ ok: false, detail: `${path.join(dir, 'config', 'ssh_config')} does not exist; fix connection.ssh_config (a relative path is relative to the config file's directory)` });
    expect(missing.code).toBe(1);
  }, 60000);
});
