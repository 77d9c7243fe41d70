import { execFileSync } from 'node:child_process';
import { chmodSync, copyFileSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { describeWithPeer, hasSshd } from '../helpers/peers.js';
import { sshConnection, startSshd, type SshdPeer } from '../helpers/sshd.js';

// `localport doctor`'s ssh checks, through the built CLI, against real key files, a real ssh config
// and a real sshd: key file and mode, host resolution through `ssh -G`, known_hosts, and `--connect`.

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-doctor-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Check {
  technology: string;
  name: string;
  ok: boolean;
  required: boolean;
  detail: string;
}

describeWithPeer('doctor: ssh checks', hasSshd, 'doctor against a real sshd', () => {
  let sshd: SshdPeer;
  let env: NodeJS.ProcessEnv;
  beforeAll(async () => {
    sshd = await startSshd();
    env = { LOCALPORT_STATE_DIR: path.join(root, 'state') };
  }, 20000);
  afterAll(async () => sshd?.stop());

  let n = 0;
  function project(connections: Record<string, Record<string, unknown>>): string {
    const dir = mkdtempSync(path.join(root, 'p-'));
    const services = Object.entries(connections).map(([name, connection]) => ({ name, technology: 'ssh', local_port: 20000 + n++, remote_port: 80, connection }));
    writeFileSync(path.join(dir, 'localport.yaml'), JSON.stringify({ services }));
    return dir;
  }
  /** A copy of the client key with this mode (the helper's own stays 0600 for the other tests). */
  function keyWithMode(mode: number): string {
    const file = path.join(mkdtempSync(path.join(root, 'k-')), 'id');
    copyFileSync(sshd.clientKey, file);
    chmodSync(file, mode);
    return file;
  }
  async function doctorJson(dir: string, args: string[] = [], extraEnv: NodeJS.ProcessEnv = {}) {
    const r = await runCli(['doctor', '-o', 'json', ...args], { cwd: dir, env: { ...env, ...extraEnv }, timeoutMs: 40000 });
    const body = JSON.parse(r.stdout) as { ok: boolean; checks: Check[] };
    const find = (re: RegExp) => {
      const found = body.checks.filter((c) => re.test(c.name));
      if (found.length !== 1) throw new Error(`expected one check matching ${re}, got:\n${JSON.stringify(body.checks, null, 2)}`);
      return found[0];
    };
    return { code: r.code, body, find, stderr: r.stderr };
  }

  it('a key file that group and others can read fails, with chmod 600 as the fix; 0600 and 0400 pass', async () => {
    const loose = keyWithMode(0o644);
    const dir = project({ web: sshConnection(sshd, { key_file: loose }) });
    const r = await doctorJson(dir);
    expect(r.code).toBe(1);
    expect(r.body.ok).toBe(false);
    expect(r.find(/key_file/)).toMatchObject({ technology: 'ssh', ok: false, required: true });
    expect(r.find(/key_file/).detail).toBe(`${loose} has mode 0644: ssh refuses a private key others can read; run chmod 600 ${loose}`);
    const table = await runCli(['doctor'], { cwd: dir, env });
    expect(table.code).toBe(1);
    expect(table.stdout).toContain(`FAIL  ssh: ${sshd.user}@127.0.0.1:${sshd.port} (web): key_file — ${loose} has mode 0644`);
    expect(table.stdout).toContain('1 required check failed');

    for (const mode of [0o600, 0o400]) {
      const ok = await doctorJson(project({ web: sshConnection(sshd, { key_file: keyWithMode(mode) }) }));
      expect(ok.find(/key_file/)).toMatchObject({ ok: true });
      expect(ok.find(/key_file/).detail).toMatch(new RegExp(`\\(mode 0${mode.toString(8)}\\)$`));
      expect(ok.code).toBe(0);
    }
  }, 60000);

  it('a missing key file fails and says how to make one; a passphrase-protected key warns; a file that is no key fails', async () => {
    const missing = path.join(root, 'no-such-key');
    const r = await doctorJson(project({ web: sshConnection(sshd, { key_file: missing }) }));
    expect(r.code).toBe(1);
    expect(r.find(/key_file/)).toMatchObject({ ok: false, required: true });
    expect(r.find(/key_file/).detail).toBe(
      `${missing} does not exist; fix connection.key_file, or create a key with ssh-keygen -t ed25519 -f ${missing} and add ${missing}.pub to the server's authorized_keys`,
    );

    // A passphrase: only ssh-agent can use it (a warning); a file that is no key at all: a failure.
    const protectedKey = path.join(mkdtempSync(path.join(root, 'pp-')), 'id');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', 'secret', '-f', protectedKey], { stdio: 'ignore' });
    const notKey = path.join(mkdtempSync(path.join(root, 'nk-')), 'id');
    writeFileSync(notKey, 'not a key\n', { mode: 0o600 });
    const p = await doctorJson(project({ web: sshConnection(sshd, { key_file: protectedKey }), db: sshConnection(sshd, { key_file: notKey }) }));
    expect(p.find(/\(web\): key_file/)).toMatchObject({
      ok: false,
      required: false,
      detail: `${protectedKey} is protected by a passphrase, which LocalPort's non-interactive ssh cannot type; load it into ssh-agent with ssh-add ${protectedKey} before starting`,
    });
    expect(p.find(/\(db\): key_file/)).toMatchObject({ ok: false, required: true });
    expect(p.find(/\(db\): key_file/).detail).toMatch(new RegExp(`^${notKey} is not a private key ssh can read \\(Load key .*\\); fix connection\\.key_file$`));
    expect(p.code).toBe(1);
  }, 30000);

  it('resolves a host alias through ssh -G (the ssh config the real ssh reads), and a name that resolves nowhere fails', async () => {
    // ssh reads ~/.ssh/config from the passwd home, not $HOME: the service names an ssh_config of its own.
    const bin = mkdtempSync(path.join(root, 'cfg-'));
    const config = path.join(bin, 'ssh_config');
    writeFileSync(
      config,
      `Host lp-doctor-alias\n  HostName 127.0.0.1\n  Port ${sshd.port}\n  User ${sshd.user}\n\nHost lp-doctor-nowhere\n  HostName lp-doctor-nowhere.invalid\n`,
    );
    const pathEnv = {};
    const { port: _port, user: _user, ...aliased } = sshConnection(sshd, { host: 'lp-doctor-alias', ssh_config: config });
    const dir = project({ web: aliased, db: { ...aliased, host: 'lp-doctor-nowhere' } });

    const r = await doctorJson(dir, [], pathEnv);
    expect(r.find(/^lp-doctor-alias .*: host$/)).toMatchObject({ ok: true, detail: '127.0.0.1 (lp-doctor-alias in your ssh config) resolves to 127.0.0.1' });
    // The key is looked up under the name and port ssh -G gives, not the alias.
    expect(r.find(/^lp-doctor-alias .*: known_hosts$/)).toMatchObject({ ok: true, detail: `[127.0.0.1]:${sshd.port} is in ${sshd.knownHosts}` });
    const nowhere = r.find(/^lp-doctor-nowhere .*: host$/);
    expect(nowhere).toMatchObject({ ok: false, required: true });
    expect(nowhere.detail).toMatch(/^lp-doctor-nowhere\.invalid \(lp-doctor-nowhere in your ssh config\) does not resolve \(ENOTFOUND\); check connection\.host, or add a Host lp-doctor-nowhere entry with its HostName to .*ssh_config$/);
    expect(r.code).toBe(1);

    // And the login itself goes where the alias says; a name that does not resolve gets no login.
    const c = await doctorJson(dir, ['--connect'], pathEnv);
    expect(c.find(/^lp-doctor-alias .*: connect$/)).toMatchObject({ ok: true, detail: `logged in as ${sshd.user} and ran true` });
    expect(c.body.checks.filter((x) => /^lp-doctor-nowhere .*: connect$/.test(x.name))).toEqual([]);
    const alone = await doctorJson(project({ web: aliased }), ['--connect'], pathEnv);
    expect(alone.code).toBe(0);
  }, 60000);

  it('-o text: one line per check, its fields apart (result technology check endpoint services detail), the message last', async () => {
    const dir = project({ web: sshConnection(sshd), db: sshConnection(sshd) });
    const r = await runCli(['doctor', '-o', 'text', '--connect'], { cwd: dir, env, timeoutMs: 40000 });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    const lines = r.stdout.trimEnd().split('\n').map((l) => l.split(' '));
    // Every line has six fields, the detail percent-encoded into the last.
    for (const fields of lines) expect(fields).toHaveLength(6);
    const endpoint = `${sshd.user}@127.0.0.1:${sshd.port}`;
    const byCheck = Object.fromEntries(lines.map(([result, technology, check, subject, services, detail]) => [check, { result, technology, subject, services, detail }]));
    expect(byCheck.binary).toMatchObject({ result: 'ok', technology: 'ssh', subject: 'ssh', services: '-' });
    for (const check of ['key_file', 'host', 'known_hosts', 'connect']) {
      expect({ check, ...byCheck[check] }).toMatchObject({ check, result: 'ok', technology: 'ssh', subject: endpoint, services: 'web,db' });
    }
    expect(decodeURIComponent(byCheck.connect!.detail!)).toBe(`logged in as ${sshd.user} and ran true`);
  }, 60000);

  it('a host missing from known_hosts fails under strict checking with the safe way to add it, and only warns under accept-new', async () => {
    const empty = path.join(mkdtempSync(path.join(root, 'kh-')), 'known_hosts');
    writeFileSync(empty, '');
    const r = await doctorJson(project({ web: sshConnection(sshd, { known_hosts_file: empty }) }));
    expect(r.code).toBe(1);
    const kh = r.find(/known_hosts/);
    expect(kh).toMatchObject({ ok: false, required: true });
    expect(kh.detail).toBe(
      `no key for [127.0.0.1]:${sshd.port} in ${empty}, and strict_host_key_checking is yes, so ssh will refuse to connect; ` +
        `add it safely: ssh-keyscan -p ${sshd.port} 127.0.0.1 > /tmp/hostkey; ssh-keygen -lf /tmp/hostkey; if the fingerprint is the one the server's admin gives you, ` +
        `cat /tmp/hostkey >> ${empty}`,
    );

    // The login fails too, and says so without calling the key changed (ssh's last line is the same).
    const c = await doctorJson(project({ web: sshConnection(sshd, { known_hosts_file: empty }) }), ['--connect']);
    expect(c.find(/connect$/)).toMatchObject({ ok: false });
    expect(c.find(/connect$/).detail).toMatch(
      new RegExp(`^the host key of ${sshd.user}@127\\.0\\.0\\.1:${sshd.port} \\(\\[127\\.0\\.0\\.1\\]:${sshd.port}\\) is not in ${empty}, and strict_host_key_checking is yes, so ssh refuses to connect; .* \\(ssh: Host key verification failed\\.\\)$`),
    );
    expect(c.find(/connect$/).detail).not.toMatch(/CHANGED/);

    const lax = await doctorJson(project({ web: sshConnection(sshd, { known_hosts_file: empty, strict_host_key_checking: 'accept-new' }) }));
    expect(lax.find(/known_hosts/)).toMatchObject({ ok: false, required: false });
    expect(lax.find(/known_hosts/).detail).toMatch(/will trust whatever key the server shows first/);
    expect(lax.code).toBe(0);
  }, 60000);

  it('--connect under accept-new changes no known_hosts file: an unknown host key is left to the known_hosts check and its fix', async () => {
    const dir = mkdtempSync(path.join(root, 'kh-'));
    const file = path.join(dir, 'known_hosts');
    writeFileSync(file, '# mine\n');
    const r = await doctorJson(project({ web: sshConnection(sshd, { known_hosts_file: file, strict_host_key_checking: 'accept-new' }) }), ['--connect']);
    // Was: doctor warned "check the fingerprint before adding", then its login added the key, unchecked.
    expect(readFileSync(file, 'utf8')).toBe('# mine\n');
    expect(readdirSync(dir)).toEqual(['known_hosts']);
    expect(r.find(/known_hosts$/)).toMatchObject({ ok: false, required: false });
    expect(r.find(/known_hosts$/).detail).toContain(`cat /tmp/hostkey >> ${file}`);
    expect(r.find(/connect$/)).toMatchObject({ ok: false, required: false });
    expect(r.find(/connect$/).detail).toBe(
      `not tried: the host key of [127.0.0.1]:${sshd.port} is not in known_hosts yet, and doctor adds none (a run would, unchecked, with strict_host_key_checking accept-new); add it as the known_hosts check says, then run doctor --connect again`,
    );
    expect(r.code).toBe(0);
  }, 60000);

  it('--connect logs in once per endpoint; a key the server does not accept fails with what it means; without --connect nothing connects', async () => {
    const wrongDir = mkdtempSync(path.join(root, 'wrong-'));
    const wrong = path.join(wrongDir, 'id');
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', wrong], { stdio: 'ignore' });
    // web and api share one endpoint: one set of checks, one login.
    const dir = project({ web: sshConnection(sshd), api: sshConnection(sshd), db: sshConnection(sshd, { key_file: wrong }) });

    const before = sshd.connections();
    const offline = await doctorJson(dir);
    expect(sshd.connections()).toBe(before);
    expect(offline.body.checks.some((c) => /connect$/.test(c.name))).toBe(false);
    expect(offline.code).toBe(0);

    const r = await doctorJson(dir, ['--connect']);
    expect(sshd.connections()).toBe(before + 2);
    expect(r.find(/\(web, api\): connect$/)).toMatchObject({ ok: true, required: true, detail: `logged in as ${sshd.user} and ran true` });
    const denied = r.find(/\(db\): connect$/);
    expect(denied).toMatchObject({ ok: false, required: true });
    expect(denied.detail).toMatch(new RegExp(`^authentication refused by ${sshd.user}@127\\.0\\.0\\.1:${sshd.port}; check user and key_file, or load the key into ssh-agent \\(ssh: .*Permission denied`));
    expect(r.code).toBe(1);

    const table = await runCli(['doctor', '--connect'], { cwd: dir, env });
    expect(table.code).toBe(1);
    expect(table.stdout).toContain(`ok    ssh: ${sshd.user}@127.0.0.1:${sshd.port} (web, api): connect — logged in as ${sshd.user} and ran true`);
    expect(table.stdout).toContain(`FAIL  ssh: ${sshd.user}@127.0.0.1:${sshd.port} (db): connect — authentication refused`);
  }, 90000);
});
