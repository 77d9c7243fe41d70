import { describe, expect, it } from '@jest/globals';
import { explainSshExit, sshArgs, sshConnectionSchema, type SshConnection } from '../../../plugins/ssh/index.js';
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
    expect(args).toEqual(expect.arrayContaining(['-i', '/k', '-p', '2222', '-l', 'deploy', '-J', 'jump']));
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
    ['Host key verification failed.', /host key verification failed for bastion.*ssh-keygen -R bastion/, 'rejected'],
    ['@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\nHost key for bastion has changed and you have requested strict checking.\nHost key verification failed.', /host key verification failed for bastion/, 'rejected'],
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

  it('leaves a port that is no ssh server unexplained, so core treats it as a permanent failure', () => {
    expect(explainSshExit(service({ host: 'bastion' }), { exitCode: 255, output: 'banner exchange: Connection to 10.0.0.1 port 80: invalid format' })).toBeUndefined();
  });
});
