import { readFileSync, rmSync, statSync } from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from '@jest/globals';
import { sshConfigText, unusablePath } from '../../../plugins/ssh/config-file.js';
import { endpointArgs, explainSshExit, sshArgs, sshConnectionSchema, type SshConnection } from '../../../plugins/ssh/index.js';
import type { ServiceDefinition } from '../../../core/types.js';

const service = (connection: Record<string, unknown>): ServiceDefinition<SshConnection> =>
  ({ name: 'db', technology: 'ssh', localPort: 5432, remotePort: 6543, connection: sshConnectionSchema.parse(connection) }) as ServiceDefinition<SshConnection>;

const opt = (args: string[], key: string) => args.flatMap((a, i) => (args[i - 1] === '-o' && a.startsWith(`${key}=`) ? [a.slice(key.length + 1)] : []));

describe('ssh technology', () => {
  it('builds an argument array with the safety options and binds to 127.0.0.1', () => {
    const args = sshArgs(service({ host: 'bastion', user: 'deploy', port: 2222, key_file: '/k', jump_host: 'jump', remote_host: 'db.internal' }));
    expect(args.slice(0, 2)).toEqual(['-N', '-T']);
    expect(opt(args, 'ExitOnForwardFailure')).toEqual(['yes']);
    expect(opt(args, 'BatchMode')).toEqual(['yes']);
    expect(opt(args, 'StrictHostKeyChecking')).toEqual(['accept-new']);
    expect(opt(args, 'ServerAliveInterval')).toEqual(['5']);
    expect(opt(args, 'ServerAliveCountMax')).toEqual(['3']);
    expect(args).toEqual(expect.arrayContaining(['-p', '2222', '-l', 'deploy', '-J', 'jump']));
    // The key goes into the -F file (for the jump host too), not on the command line.
    expect(args).not.toContain('-i');
    expect(readFileSync(args[args.indexOf('-F') + 1], 'utf8')).toContain('IdentityFile "/k"');
    expect(args.slice(-4)).toEqual(['-L', '127.0.0.1:5432:db.internal:6543', '--', 'bastion']);
  });

  it('never turns host key checking off unless asked, and then says so', () => {
    expect(opt(sshArgs(service({ host: 'h' })), 'StrictHostKeyChecking')).toEqual(['accept-new']);
    expect(opt(sshArgs(service({ host: 'h', strict_host_key_checking: 'no' })), 'StrictHostKeyChecking')).toEqual(['no']);
  });

  it('binds where the config says, bracketing IPv6', () => {
    expect(sshArgs(service({ host: 'h', bind_address: '::1', remote_host: '::1' })).at(-3)).toBe('[::1]:5432:[::1]:6543');
  });

  it('refuses options LocalPort manages itself', () => {
    const r = sshConnectionSchema.safeParse({ host: 'h', options: { BatchMode: 'no', Compression: 'yes' } });
    expect(r.success).toBe(false);
    expect(r.error!.issues.map((i) => [i.path.join('.'), i.message])).toEqual([['options.BatchMode', 'LocalPort sets BatchMode itself (always on (LocalPort cannot answer prompts))']]);
  });

  it.each([
    ['Permission denied (publickey).', /authentication refused by deploy@bastion/, 'rejected'],
    ['Received disconnect from 10.0.0.1 port 22:2: Too many authentication failures', /authentication refused by deploy@bastion/, 'rejected'],
    ['Host key verification failed.', /host key verification failed for deploy@bastion/, 'rejected'],
    [
      "Permissions 0644 for '/home/me/.ssh/id_ed25519' are too open.\nLoad key \"/home/me/.ssh/id_ed25519\": bad permissions\ndeploy@bastion: Permission denied (publickey).",
      /^key_file \/home\/me\/.ssh\/id_ed25519 has mode 0644: others can read it.*chmod 600 \/home\/me\/.ssh\/id_ed25519$/,
      'permanent',
    ],
    ['@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key for bastion has changed and you have requested strict checking.\nHost key verification failed.', /host key of deploy@bastion \(bastion\) has CHANGED.*ssh-keygen -R bastion /, 'rejected'],
    ['No ED25519 host key is known for bastion and you have requested strict checking.\nHost key verification failed.', /host key of deploy@bastion \(bastion\) is not in ~\/.ssh\/known_hosts.*ssh-keyscan bastion >.*accept-new/, 'permanent'],
    ['ssh: connect to host bastion port 22: Connection refused', /connection refused by deploy@bastion/, 'permanent'],
    ['bind [127.0.0.1]:5432: Address already in use', /local port 5432 is already in use/, 'permanent'],
    ['ssh: Could not resolve hostname bastion: Name or service not known', /unknown host bastion/, 'permanent'],
    // What sshd's MaxStartups drop looks like from the client (seen against Debian's sshd 9.2).
    ['kex_exchange_identification: read: Connection reset by peer\nConnection reset by 10.0.0.1 port 22', /dropped the connection during the handshake \(Connection reset by 10\.0\.0\.1 port 22\)/, 'transient'],
    ['kex_exchange_identification: Connection closed by remote host\nConnection closed by 10.0.0.1 port 22', /deploy@bastion dropped the connection during the handshake.*MaxStartups/, 'transient'],
    ['ssh: connect to host bastion port 22: Connection timed out', /deploy@bastion did not answer/, 'transient'],
  ])('explains "%s" and classifies it', (output, expected, failure) => {
    const explained = explainSshExit(service({ host: 'bastion', user: 'deploy' }), { exitCode: 255, output });
    expect(explained?.message).toMatch(expected);
    expect(explained?.failure).toBe(failure);
  });

  it("does not take a forward's refused target (printed while the master was up) for why the connection ended", () => {
    const output = 'channel 3: open failed: connect failed: Connection refused\nchannel 4: open failed: connect failed: Connection refused';
    expect(explainSshExit(service({ host: 'bastion' }), { signal: 'SIGKILL', output })).toBeUndefined();
  });

  it('leaves a port that is no ssh server unexplained, so core treats it as a permanent failure', () => {
    expect(explainSshExit(service({ host: 'bastion' }), { exitCode: 255, output: 'banner exchange: Connection to 10.0.0.1 port 80: invalid format' })).toBeUndefined();
  });
});

describe('ssh: the -F file that carries identity, known_hosts and strictness to jump hosts', () => {
  it('puts them under Host *, then includes what ssh reads without -F', () => {
    const text = sshConfigText({ keyFile: '/k/id', knownHostsFile: '/k/known_hosts', strictHostKeyChecking: 'yes', connectTimeout: 7 }, '/home/me');
    expect(text.split('\n').filter((l) => !l.startsWith('#'))).toEqual([
      'IgnoreUnknown ForkAfterAuthentication',
      'Host *',
      '  IdentityFile "/k/id"',
      '  UserKnownHostsFile "/k/known_hosts"',
      '  StrictHostKeyChecking yes',
      '  BatchMode yes',
      '  ConnectTimeout 7',
      // A hop (which reads only this file) never becomes a master of the user's, nor forks away.
      '  ControlMaster no',
      '  ControlPath none',
      '  ControlPersist no',
      '  ForkAfterAuthentication no',
      '  Include "/home/me/.ssh/config"',
      '  Include "/etc/ssh/ssh_config"',
      '',
    ]);
  });

  it("includes only the service's ssh_config when it names one (as ssh -F would read only that)", () => {
    const text = sshConfigText({ strictHostKeyChecking: 'accept-new', connectTimeout: 10, sshConfig: '/p/ssh_config' }, '/home/me');
    expect(text).toContain('Include "/p/ssh_config"');
    expect(text).not.toContain('.ssh/config');
    expect(text).not.toContain('/etc/ssh');
    expect(text).not.toContain('IdentityFile');
  });

  it('escapes what ssh would expand: % tokens, backslashes, and glob characters in an Include', () => {
    const text = sshConfigText({ keyFile: '/a b/100%/k\\x', strictHostKeyChecking: 'yes', connectTimeout: 1, sshConfig: '/c[1]/*.conf' });
    expect(text).toContain('IdentityFile "/a b/100%%/k\\\\x"');
    expect(text).toContain('Include "/c\\\\[1]/\\\\*.conf"');
  });

  it('refuses paths a config line cannot hold, with the reason', () => {
    expect(unusablePath('/a"b')).toMatch(/double quote/);
    expect(unusablePath('/a\nb')).toMatch(/single line/);
    expect(unusablePath('/${HOME}/k')).toMatch(/environment variable/);
    expect(unusablePath('/a%b', true)).toMatch(/%/);
    expect(unusablePath('/a%b')).toBeUndefined();
    const r = sshConnectionSchema.safeParse({ host: 'h', key_file: '/x"y', ssh_config: '/c%d' });
    expect(r.error!.issues.map((i) => i.path.join('.'))).toEqual(['keyFile', 'sshConfig']);
  });

  it('writes one private file per content: identical endpoints get identical arguments', () => {
    const a = endpointArgs(sshConnectionSchema.parse({ host: 'h', key_file: '/k1', jump_host: 'j' }));
    const b = endpointArgs(sshConnectionSchema.parse({ host: 'other', key_file: '/k1', jump_host: 'j' }));
    const c = endpointArgs(sshConnectionSchema.parse({ host: 'h', key_file: '/k2', jump_host: 'j' }));
    const file = a[a.indexOf('-F') + 1];
    expect(b[b.indexOf('-F') + 1]).toBe(file);
    expect(c[c.indexOf('-F') + 1]).not.toBe(file);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    expect(statSync(path.dirname(file)).mode & 0o777).toBe(0o700);
    expect(statSync(path.dirname(file)).uid).toBe(process.getuid!());
    // ssh puts "-F FILE" unquoted into the shell command of a ProxyJump hop.
    expect(file).toMatch(/^[A-Za-z0-9_./+-]+$/);
    expect(a.slice(a.indexOf('-F') + 2)).toEqual(['-J', 'j']);
  });

  it('writes the file again if its directory vanished (a runtime directory removed at logout, a tmp cleaner)', () => {
    const c = sshConnectionSchema.parse({ host: 'h', key_file: '/k3' });
    const first = endpointArgs(c)[1];
    rmSync(path.dirname(first), { recursive: true, force: true });
    const again = endpointArgs(c)[1];
    expect(readFileSync(again, 'utf8')).toContain('IdentityFile "/k3"');
  });
});

describe('ssh: whose failure it is, the final host or the jump host', () => {
  // ssh 9.2's own output, recorded against two sshds (bastion on 2201, final host on 2202).
  const hop = (lines: string) => `${lines}\nkex_exchange_identification: Connection closed by remote host\nConnection closed by UNKNOWN port 65535`;
  const changed = (port: number, line: number) =>
    `@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n` +
    `Add correct host key in /k/kh to get rid of this message.\nOffending ED25519 key in /k/kh:${line}\n  remove with:\n  ssh-keygen -f "/k/kh" -R "[127.0.0.1]:${port}"\n` +
    `Host key for [127.0.0.1]:${port} has changed and you have requested strict checking.\nHost key verification failed.`;
  const svc = service({ host: '127.0.0.1', port: 2202, user: 'me', jump_host: 'me@127.0.0.1:2201', known_hosts_file: '/k/kh', strict_host_key_checking: 'yes' });
  const explain = (output: string) => explainSshExit(svc, { exitCode: 255, output });

  it.each([
    ['unknown key, jump host', hop('No ED25519 host key is known for [127.0.0.1]:2201 and you have requested strict checking.\nHost key verification failed.'), /^the host key of jump host me@127\.0\.0\.1:2201 \(\[127\.0\.0\.1\]:2201\) is not in \/k\/kh.*ssh-keyscan -p 2201 127\.0\.0\.1 >.*accept-new/, 'permanent'],
    ['unknown key, final host', 'No ED25519 host key is known for [127.0.0.1]:2202 and you have requested strict checking.\nHost key verification failed.', /^the host key of me@127\.0\.0\.1:2202 \(\[127\.0\.0\.1\]:2202\) is not in \/k\/kh.*ssh -o UserKnownHostsFile=\/k\/kh ssh:\/\/me@127\.0\.0\.1:2201 ssh-keyscan -p 2202 127\.0\.0\.1 > \/tmp\/hostkey/, 'permanent'],
    ['changed key, jump host', hop(changed(2201, 1)), /^the host key of jump host me@127\.0\.0\.1:2201 \(\[127\.0\.0\.1\]:2201\) has CHANGED.*\/k\/kh:1.*ssh-keygen -f \/k\/kh -R "\[127\.0\.0\.1\]:2201" /, 'rejected'],
    ['changed key, final host', changed(2202, 2), /^the host key of me@127\.0\.0\.1:2202 \(\[127\.0\.0\.1\]:2202\) has CHANGED.*ssh-keygen -f \/k\/kh -R "\[127\.0\.0\.1\]:2202" /, 'rejected'],
    ['login refused, jump host', hop('nosuch@127.0.0.1: Permission denied (publickey).'), /^authentication refused by jump host me@127\.0\.0\.1:2201/, 'rejected'],
    ['login refused, final host', 'nosuch@127.0.0.1: Permission denied (publickey).', /^authentication refused by me@127\.0\.0\.1:2202/, 'rejected'],
    ['jump host down', hop('ssh: connect to host 127.0.0.1 port 2201: Connection refused'), /^connection refused by jump host me@127\.0\.0\.1:2201/, 'permanent'],
    ['final host unreachable from the jump host', hop('channel 0: open failed: connect failed: Connection refused\nstdio forwarding failed'), /^jump host me@127\.0\.0\.1:2201 could not connect to 127\.0\.0\.1:2202 \(connect failed: Connection refused\)/, 'permanent'],
    ['jump host sheds the connection', hop('kex_exchange_identification: read: Connection reset by peer\nConnection reset by 127.0.0.1 port 2201'), /^jump host me@127\.0\.0\.1:2201 dropped the connection during the handshake/, 'transient'],
    ['final host closes it behind the jump host', hop(''), /^the connection to me@127\.0\.0\.1:2202 through jump host me@127\.0\.0\.1:2201 was closed during the handshake/, 'transient'],
  ])('%s', (_what, output, expected, failure) => {
    const e = explain(output);
    expect(e?.message).toMatch(expected);
    expect(e?.failure).toBe(failure);
  });

  it('quotes the plain host on port 22, and a file that needs quoting', () => {
    const e = explainSshExit(service({ host: 'db', known_hosts_file: "/my keys/kh" }), {
      exitCode: 255,
      output: 'Offending ED25519 key in /my keys/kh:3\nHost key for db has changed and you have requested strict checking.\nHost key verification failed.',
    });
    expect(e?.message).toContain("ssh-keygen -f '/my keys/kh' -R db ");
  });
});
