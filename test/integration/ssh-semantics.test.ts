import { execFileSync, spawnSync } from 'node:child_process';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { Supervisor } from '../../core/supervisor/Supervisor.js';
import { resolve } from '../helpers/hub.js';
import { freePort, httpGet, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer, hasSshd } from '../helpers/peers.js';
import { jumpConnection as jumpPairConnection, startJumpPair, type JumpPair } from '../helpers/sshd.js';

// Two real OpenSSH sshd: a bastion and a host "behind" it, with a real HTTP server behind that. Both
// sshd listen on 127.0.0.1, so "behind" is simulated: the client could reach the host directly. That
// the bastion is really used is checked on the host's side: its one connection is owned by a session
// of the bastion's sshd (ss -tnp), never by the ssh client, and the bastion logged our key's login.

describeWithPeer('OpenSSH sshd', hasSshd, 'ssh semantics: jump hosts, ssh_config, host keys', () => {
  let pair: JumpPair;
  let web: HttpPeer;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-ssh-sem-'));
  let sup: Supervisor | undefined;
  let fakeHostKey: string;

  beforeAll(async () => {
    process.env.LOCALPORT_STATE_DIR = dir;
    [pair, web] = await Promise.all([startJumpPair(), startHttpServer('behind the bastion')]);
    fakeHostKey = path.join(dir, 'fake_host');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', fakeHostKey]);
  });
  afterEach(async () => {
    await sup?.stopAll();
    sup = undefined;
  });
  afterAll(async () => {
    await Promise.all([pair?.stop(), web?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  const user = os.userInfo().username;
  const fakePub = () => execFileSync('cut', ['-d', ' ', '-f', '1,2', `${fakeHostKey}.pub`], { encoding: 'utf8' }).trim();
  /** The final host through the bastion, with strict checking and one known_hosts file: the setup. */
  const jumpConnection = (extra: Record<string, unknown> = {}) => jumpPairConnection(pair, user, extra);

  async function service(connection: Record<string, unknown>) {
    const local = await freePort();
    const { hub, config } = await resolve({ services: [{ name: 'web', technology: 'ssh', local_port: local, remote_port: web.port, connection }] });
    sup = new Supervisor(hub);
    return { s: sup.add(config.services[0]), local };
  }

  /** A known_hosts file: the bastion's and the target's entries as given (a key line, or none). */
  function knownHosts(name: string, bastion: string | null, target: string | null): string {
    const file = path.join(dir, name);
    const lines = [bastion && `[127.0.0.1]:${pair.bastion.port} ${bastion}`, target && `[127.0.0.1]:${pair.target.port} ${target}`].filter(Boolean);
    writeFileSync(file, lines.map((l) => `${l}\n`).join(''));
    return file;
  }

  describe('jump_host', () => {
    it("fails with ssh's own -J today: the hop gets neither -i nor the known_hosts file nor the strictness", () => {
      // What LocalPort passed before: everything on the command line. ssh's ProxyJump hop is a second
      // ssh that receives only -l, -p, -J and -F, so it checks the bastion against ~/.ssh/known_hosts
      // (which cannot hold this fresh key), with the default strictness (ask: no tty, so it fails).
      const r = spawnSync('ssh', [
        '-o', 'BatchMode=yes', '-o', 'StrictHostKeyChecking=yes', '-o', `UserKnownHostsFile=${pair.knownHosts}`, '-i', pair.clientKey,
        '-J', `${user}@127.0.0.1:${pair.bastion.port}`, '-p', String(pair.target.port), '-l', user, '127.0.0.1', 'true',
      ], { encoding: 'utf8' });
      expect(r.status).toBe(255);
      // The hop's verdict, then the final ssh's view of a proxy that ended: no word of which host it was.
      expect(r.stderr.replace(/\r/g, '')).toBe('Host key verification failed.\nkex_exchange_identification: Connection closed by remote host\nConnection closed by UNKNOWN port 65535\n');
      expect(pair.target.connections()).toBe(0);
    });

    it('reaches the host through the bastion with the same key_file, known_hosts_file and strict checking', async () => {
      const logins = (pair.bastion.log().match(/Accepted publickey for /g) ?? []).length;
      const { s, local } = await service(jumpConnection());
      await s.start();
      expect(await httpGet(local)).toBe('behind the bastion');
      // The bastion authenticated our key (not an agent's or a default one: IdentitiesOnly, no ~/.ssh).
      const fingerprint = execFileSync('ssh-keygen', ['-lf', pair.clientKey], { encoding: 'utf8' }).split(' ')[1];
      expect((pair.bastion.log().match(/Accepted publickey for /g) ?? []).length).toBe(logins + 1);
      expect(pair.bastion.log()).toContain(fingerprint);
      // The host's only connection comes from the bastion's sshd, none from the client.
      expect(pair.viaBastion()).toEqual({ bastion: 1, direct: 0 });
    });

    it('(the check above can fail: without jump_host, the connection to the host is counted as direct)', async () => {
      const { s, local } = await service(jumpConnection({ jump_host: undefined }));
      await s.start();
      expect(await httpGet(local)).toBe('behind the bastion');
      expect(pair.viaBastion()).toEqual({ bastion: 0, direct: 1 });
    });
  });

  describe('a failure of the jump host is the jump host\'s', () => {
    it('a login the jump host refuses', async () => {
      const { s } = await service(jumpConnection({ jump_host: `nosuch@127.0.0.1:${pair.bastion.port}` }));
      await expect(s.start()).rejects.toThrow(`service web: authentication refused by jump host nosuch@127.0.0.1:${pair.bastion.port}; check user and key_file`);
    });

    it('a final host the jump host cannot reach', async () => {
      const closed = await freePort();
      const { s } = await service(jumpConnection({ port: closed }));
      await expect(s.start()).rejects.toThrow(`service web: jump host ${user}@127.0.0.1:${pair.bastion.port} could not connect to 127.0.0.1:${closed} (connect failed: Connection refused)`);
    });

    it('a jump host that is down', async () => {
      const closed = await freePort();
      const { s } = await service(jumpConnection({ jump_host: `${user}@127.0.0.1:${closed}` }));
      await expect(s.start()).rejects.toThrow(`service web: connection refused by jump host ${user}@127.0.0.1:${closed}; is sshd running there`);
    });
  });

  it('uses an ssh_config file whose Host alias names the host, its port, user and ProxyJump', async () => {
    const config = path.join(dir, 'ssh_config');
    writeFileSync(config, `Host behind\n  HostName 127.0.0.1\n  Port ${pair.target.port}\n  User ${user}\n  ProxyJump ${user}@127.0.0.1:${pair.bastion.port}\n`);
    chmodSync(config, 0o600);
    // No jump_host, port or user here: they come from the alias. The hop still gets the key and the
    // known_hosts file, since ssh passes -F on to it.
    const { s, local } = await service({ host: 'behind', ssh_config: config, key_file: pair.clientKey, known_hosts_file: pair.knownHosts, strict_host_key_checking: 'yes', remote_host: '127.0.0.1' });
    await s.start();
    expect(await httpGet(local)).toBe('behind the bastion');
    expect(pair.viaBastion()).toEqual({ bastion: 1, direct: 0 });
  });

  describe('host keys', () => {
    const t = () => `[127.0.0.1]:${pair.target.port}`;
    const b = () => `[127.0.0.1]:${pair.bastion.port}`;

    it('an unknown key of the final host: says so, how to add it, and accept-new', async () => {
      const file = knownHosts('kh-no-target', pair.bastion.hostKeyPub, null);
      const { s } = await service(jumpConnection({ known_hosts_file: file }));
      const e = (await s.start().catch((err: Error) => err)) as Error;
      expect(e.message).toContain(`service web: the host key of ${user}@127.0.0.1:${pair.target.port} (${t()}) is not in ${file}, and strict_host_key_checking is yes`);
      expect(e.message).toContain('strict_host_key_checking: accept-new');
      // The hint scans the host from the jump host, logged in with the service's key and known_hosts: it
      // works as printed (the paths here need no quoting), and fetches the host's real key.
      const fetch = new RegExp(`(ssh -i \\S+ -o UserKnownHostsFile=\\S+ ssh://${user}@127\\.0\\.0\\.1:${pair.bastion.port} ssh-keyscan -p ${pair.target.port} 127\\.0\\.0\\.1) > /tmp/hostkey`).exec(e.message);
      expect(fetch).not.toBeNull();
      const [cmd, ...args] = fetch![1].split(' ');
      const scanned = execFileSync(cmd, ['-o', 'BatchMode=yes', ...args], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
      expect(scanned).toContain(`${t()} ${pair.target.hostKeyPub}`);
      // The scan's connections reach the host's log a moment later: let them land before the next test counts.
      let seen = -1;
      while (seen !== pair.target.connections()) {
        seen = pair.target.connections();
        await new Promise((r) => setTimeout(r, 300));
      }
      expect(e.message).not.toMatch(/CHANGED|ssh-keygen -f/);
    });

    it('an unknown key of the jump host: blames the jump host', async () => {
      const file = knownHosts('kh-no-bastion', null, pair.target.hostKeyPub);
      const before = pair.target.connections();
      const { s } = await service(jumpConnection({ known_hosts_file: file }));
      const e = (await s.start().catch((err: Error) => err)) as Error;
      expect(e.message).toContain(`service web: the host key of jump host ${user}@127.0.0.1:${pair.bastion.port} (${b()}) is not in ${file}`);
      expect(e.message).toContain(`ssh-keyscan -p ${pair.bastion.port} 127.0.0.1 > /tmp/hostkey`);
      expect(pair.target.connections()).toBe(before);
    });

    it('a changed key of the final host: rejected, with the exact ssh-keygen command for that file and port', async () => {
      const file = knownHosts('kh-target-changed', pair.bastion.hostKeyPub, fakePub());
      const before = pair.target.connections();
      const { s } = await service(jumpConnection({ known_hosts_file: file }));
      const e = (await s.start().catch((err: Error) => err)) as Error;
      expect(e.message).toContain(`service web: the host key of ${user}@127.0.0.1:${pair.target.port} (${t()}) has CHANGED: it does not match the key recorded in ${file}:2`);
      expect(e.message).toContain(`ssh-keygen -f ${file} -R "${t()}"`);
      expect(s.state).toBe('failed');
      expect(pair.target.connections() - before).toBe(1);
    });

    it('a changed key of the jump host: blames the jump host, with its entry', async () => {
      const file = knownHosts('kh-bastion-changed', fakePub(), pair.target.hostKeyPub);
      const { s } = await service(jumpConnection({ known_hosts_file: file }));
      const e = (await s.start().catch((err: Error) => err)) as Error;
      expect(e.message).toContain(`service web: the host key of jump host ${user}@127.0.0.1:${pair.bastion.port} (${b()}) has CHANGED`);
      expect(e.message).toContain(`ssh-keygen -f ${file} -R "${b()}"`);
    });

    it('a changed key without strict checking is still refused (ssh disables forwarding), and said so', async () => {
      const file = knownHosts('kh-target-changed-no', pair.bastion.hostKeyPub, fakePub());
      const { s } = await service(jumpConnection({ known_hosts_file: file, strict_host_key_checking: 'no' }));
      const e = (await s.start().catch((err: Error) => err)) as Error;
      expect(e.message).toContain(`the host key of ${user}@127.0.0.1:${pair.target.port} (${t()}) has CHANGED`);
      expect(e.message).toContain(`ssh-keygen -f ${file} -R "${t()}"`);
    });
  });
});
