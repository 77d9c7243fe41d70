import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './net.js';
import { descendants } from './procs.js';
import { SSHD } from './peer-bins.js';

export interface SshdPeer {
  port: number;
  pid: number;
  dir: string;
  user: string;
  /** Private key the server accepts. */
  clientKey: string;
  /** A known_hosts file that already holds the server's key. */
  knownHosts: string;
  /** The server's public host key line (for writing a wrong one). */
  hostKeyPub: string;
  /** Everything sshd logged (LogLevel VERBOSE) since it first started. */
  log(): string;
  /** TCP connections sshd accepted so far: each is one `Connection from` line in its log. */
  connections(): number;
  /** Kill the listener and every session it forked (sessions call setsid, so not by group). */
  killServer(): Promise<void>;
  /** Start the server again: same port, same keys. */
  startServer(): Promise<void>;
  /** killServer, then remove its directory. */
  stop(): Promise<void>;
}

/**
 * A real OpenSSH server on 127.0.0.1 and a free port: keys made at run time
 * (git does not keep mode 0600), our own config, started by absolute path, stopped by PID.
 */
export async function startSshd(): Promise<SshdPeer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-sshd-'));
  const keygen = (file: string) => execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', file], { stdio: 'ignore' });
  const hostKey = path.join(dir, 'host_ed25519');
  const clientKey = path.join(dir, 'client_ed25519');
  keygen(hostKey);
  keygen(clientKey);
  writeFileSync(path.join(dir, 'authorized_keys'), readFileSync(`${clientKey}.pub`));
  const port = await freePort();
  const hostKeyPub = readFileSync(`${hostKey}.pub`, 'utf8').trim().split(' ').slice(0, 2).join(' ');
  const knownHosts = path.join(dir, 'known_hosts');
  writeFileSync(knownHosts, `[127.0.0.1]:${port} ${hostKeyPub}\n`);
  const config = path.join(dir, 'sshd_config');
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey}`,
      `PidFile ${path.join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${path.join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'UsePAM no',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'AllowTcpForwarding yes',
      'LogLevel VERBOSE',
      // MaxStartups stays at its default (10:30:100), as on a real server: above 10 connections that
      // have not authenticated yet, sshd drops some. Many tunnels starting at once rely on LocalPort
      // retrying such a drop.
      '',
    ].join('\n'),
  );
  if (process.getuid?.() === 0) mkdirSync('/run/sshd', { recursive: true });

  let child: ChildProcess | undefined;
  let fullLog = '';
  const launch = async () => {
    const c = spawn(SSHD, ['-D', '-e', '-f', config], { stdio: ['ignore', 'ignore', 'pipe'] });
    let log = '';
    // Kept for the whole run (not only until ready): tests count the connections sshd accepted.
    c.stderr!.setEncoding('utf8').on('data', (chunk: string) => (fullLog += chunk));
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`sshd did not start within 5 s:\n${log}`)), 5000);
      c.stderr!.on('data', (chunk: string) => {
        log += chunk;
        if (/Server listening on 127\.0\.0\.1 port/.test(log)) {
          clearTimeout(timer);
          resolve();
        }
      });
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`sshd exited with ${code}:\n${log}`));
      });
    });
    child = c;
  };
  const kill = async () => {
    const c = child;
    if (!c?.pid) return;
    child = undefined;
    for (const p of [c.pid, ...descendants(c.pid)]) {
      try {
        process.kill(p, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
    if (c.exitCode === null && c.signalCode === null) await new Promise((r) => c.once('exit', r));
  };
  await launch();

  return {
    port,
    get pid() {
      return child?.pid ?? -1;
    },
    dir,
    user: os.userInfo().username,
    clientKey,
    knownHosts,
    hostKeyPub,
    log: () => fullLog,
    connections: () => fullLog.match(/^Connection from /gm)?.length ?? 0,
    killServer: kill,
    startServer: launch,
    async stop() {
      await kill();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A LocalPort `connection` block that reaches this sshd as the current user. */
export function sshConnection(peer: SshdPeer, extra: Record<string, unknown> = {}) {
  return {
    host: '127.0.0.1',
    port: peer.port,
    user: peer.user,
    key_file: peer.clientKey,
    known_hosts_file: peer.knownHosts,
    strict_host_key_checking: 'yes',
    options: { KexAlgorithms: 'curve25519-sha256', IdentitiesOnly: 'yes' },
    ...extra,
  };
}

export interface JumpPair {
  /** The jump host. */
  bastion: SshdPeer;
  /** The host "behind" it. Both listen on 127.0.0.1 (loopback only): "behind" is simulated, see viaBastion. */
  target: SshdPeer;
  /** One client key both accept (the bastion's). */
  clientKey: string;
  /** A known_hosts file with both servers' keys. */
  knownHosts: string;
  /**
   * The established TCP connections to the target's port and the processes that own them: each is the
   * bastion's sshd (a session it forked) when the target is reached through the bastion, the ssh client
   * when it is reached directly. Needs `ss` (iproute2) and, for other users' sockets, root.
   */
  viaBastion(): { bastion: number; direct: number };
  stop(): Promise<void>;
}

/**
 * A service's connection to the pair's host through its bastion, with strict host key checking and one
 * known_hosts file: the setup (`user` logs in to both; `extra` overrides).
 */
export function jumpConnection(pair: JumpPair, user: string, extra: Record<string, unknown> = {}) {
  return {
    host: '127.0.0.1',
    port: pair.target.port,
    user,
    jump_host: `${user}@127.0.0.1:${pair.bastion.port}`,
    key_file: pair.clientKey,
    known_hosts_file: pair.knownHosts,
    strict_host_key_checking: 'yes',
    remote_host: '127.0.0.1',
    options: { KexAlgorithms: 'curve25519-sha256', IdentitiesOnly: 'yes' },
    ...extra,
  };
}

/** Two real sshd: a bastion and a host behind it, one client key and one known_hosts file for both. */
export async function startJumpPair(): Promise<JumpPair> {
  const [bastion, target] = await Promise.all([startSshd(), startSshd()]);
  writeFileSync(path.join(target.dir, 'authorized_keys'), readFileSync(`${bastion.clientKey}.pub`));
  const knownHosts = path.join(bastion.dir, 'known_hosts_both');
  writeFileSync(knownHosts, `[127.0.0.1]:${bastion.port} ${bastion.hostKeyPub}\n[127.0.0.1]:${target.port} ${target.hostKeyPub}\n`);
  return {
    bastion,
    target,
    clientKey: bastion.clientKey,
    knownHosts,
    viaBastion() {
      const out = execFileSync('ss', ['-Htnp', 'state', 'established', `( dport = :${target.port} )`], { encoding: 'utf8' });
      const sessions = new Set([bastion.pid, ...descendants(bastion.pid)]);
      let [viaB, direct] = [0, 0];
      for (const line of out.split('\n').filter(Boolean)) {
        const pids = [...line.matchAll(/pid=(\d+)/g)].map((m) => Number(m[1]));
        if (pids.some((p) => sessions.has(p))) viaB++;
        else direct++;
      }
      return { bastion: viaB, direct };
    },
    async stop() {
      await Promise.all([bastion.stop(), target.stop()]);
    },
  };
}
