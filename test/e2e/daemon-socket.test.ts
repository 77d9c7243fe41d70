import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
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

// Issue 10, item 9: another local user pre-creates the control socket's directory in a shared
// runtime dir (mode 0777, or a symlink to a directory of theirs) and serves a fake daemon there.
// The built CLI must neither show the fake's data nor send it anything, and must use the real daemon.
// The attacker is uid 65534 (nobody): the test runs as root in CI and chowns the attacker's files.

const ROOT = process.getuid!() === 0;
const ATTACKER = 65534;
if (!ROOT) process.stderr.write('\n*** SKIPPED: the attacker-owned-directory case needs root to chown to another uid (CI runs as root); the symlink case still runs\n\n');

/** A fake daemon: answers every request with made-up data and counts what it was sent. */
async function fakeDaemon(socket: string, owner: number | undefined) {
  const received: string[] = [];
  const server = net.createServer((c) => {
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      for (const line of d.split('\n').filter(Boolean)) {
        const req = JSON.parse(line) as { id: number; method: string };
        received.push(req.method);
        const service = { name: 'HACKED', technology: 'ssh', state: 'ready', pid: 1, localPort: 1, remotePort: 1, target: 'attacker', tags: [], restarts: 0 };
        const result =
          req.method === 'status'
            ? { runner: { mode: 'daemon', pid: 4194000, config: 'x' }, config: 'x', services: [service], reloadError: null, lastReload: null, orphansReaped: 0 }
            : { pid: 4194000, stopped: [] };
        c.write(`${JSON.stringify({ id: req.id, ok: true, result })}\n`);
      }
    });
    c.on('error', () => {});
  });
  await new Promise<void>((resolve) => server.listen(socket, () => resolve()));
  if (owner !== undefined) chownSync(socket, owner, owner);
  return { received, close: () => new Promise<void>((r) => server.close(() => r())) };
}


describeWithPeer('OpenSSH sshd', hasSshd, 'the control socket in a shared runtime dir', () => {
  let sshd: SshdPeer;
  let web: HttpPeer;
  const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-sock-'));
  const cleanup: (() => unknown)[] = [];

  beforeAll(async () => {
    [sshd, web] = await Promise.all([startSshd(), startHttpServer('real')]);
  });
  afterEach(async () => {
    for (const f of cleanup.splice(0).reverse()) await f();
  });
  afterAll(async () => {
    await Promise.all([sshd?.stop(), web?.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  /**
   * A project whose XDG_RUNTIME_DIR is a shared, world-writable sticky directory (like /tmp), in which
   * `plant` prepares `<shared>/localport` as the attacker would. The state dir comes from
   * XDG_STATE_HOME, so that LOCALPORT_STATE_DIR does not move the socket.
   */
  async function project(plant: (localport: string, attackerDir: string) => string) {
    const dir = mkdtempSync(path.join(root, 'p-'));
    const shared = path.join(dir, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o1777);
    const attackerDir = path.join(dir, 'attacker');
    mkdirSync(attackerDir);
    chmodSync(attackerDir, 0o777);
    const tmp = path.join(dir, 'tmp');
    mkdirSync(tmp);
    const env = { LOCALPORT_STATE_DIR: undefined, XDG_STATE_HOME: path.join(dir, 'state'), XDG_RUNTIME_DIR: shared, TMPDIR: tmp };
    const port = await freePort();
    const c = sshConnection(sshd);
    const file = path.join(dir, 'localport.yaml');
    writeFileSync(
      file,
      `services:
  - name: a
    technology: ssh
    local_port: ${port}
    remote_port: ${web.port}
    health_check: { type: tcp, interval: 0.5 }
    connection: { host: 127.0.0.1, port: ${c.port}, key_file: ${c.key_file}, known_hosts_file: ${c.known_hosts_file}, remote_host: 127.0.0.1, options: { KexAlgorithms: curve25519-sha256 } }
`,
    );
    const fakeDir = plant(path.join(shared, 'localport'), attackerDir);
    const fake = await fakeDaemon(path.join(fakeDir, `${daemonId(file)}.sock`), ROOT ? ATTACKER : undefined);
    cleanup.push(fake.close, () => {
      for (const pid of [...daemonsIn(dir), ...processes().filter((p) => p.cmd.includes(`:${port}:`)).map((p) => p.pid)]) {
        try {
          process.kill(pid, 'SIGKILL');
        } catch {
          /* gone */
        }
      }
    });
    const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });
    return { dir, shared, tmp, port, fake, cli };
  }

  async function attackFails(p: Awaited<ReturnType<typeof project>>, why: RegExp) {
    const socketDir = path.join(p.shared, 'localport');
    // Before any daemon: the fake is neither shown nor asked; the user is told what is wrong and what to do.
    const st = await p.cli('status', '--output', 'json');
    expect(st.code).toBe(0);
    expect(st.stdout).not.toContain('HACKED');
    expect(JSON.parse(st.stdout)).toMatchObject({ running: false, services: [{ name: 'a', state: 'stopped' }] });
    expect(st.stderr).toMatch(new RegExp(`^warning: ignoring the control socket ${socketDir}/[0-9a-f]{16}\\.sock: ${why.source}\\nhint: .+`));
    const stop0 = await p.cli('daemon', 'stop');
    expect(stop0.stdout).toMatch(/^No LocalPort daemon is running/);
    expect(stop0.stderr).toMatch(why);

    // The real daemon listens in a private directory of its own, and says why in its log.
    const start = await p.cli('start', '--all');
    expect(start.code).toBe(0);
    const info = JSON.parse((await p.cli('daemon', 'status', '--json')).stdout);
    expect(info.socket).toBe(path.join(p.tmp, `localport-${process.getuid!()}`, path.basename(info.socket)));
    const status = await p.cli('status', '--output', 'json');
    const real = JSON.parse(status.stdout);
    expect(real.runner.pid).toBe(info.pid);
    expect(real.services.map((s: { name: string; state: string }) => [s.name, s.state])).toEqual([['a', 'ready']]);
    const tunnel = real.services[0].pid as number;
    expect(await httpGet(p.port)).toBe('real');
    const log = (await p.cli('logs', '-n', '50')).stdout;
    expect(log).toMatch(new RegExp(`refusing the control socket directory: ${why.source}`));

    // daemon stop reaches the real daemon: it and its tunnel are gone.
    const stop = await p.cli('daemon', 'stop', '--json');
    expect(JSON.parse(stop.stdout)).toMatchObject({ stopped: true, pid: info.pid });
    expect(alive(info.pid)).toBe(false);
    await waitUntil(() => !alive(tunnel), 3000, 'tunnel gone');
    expect(p.fake.received).toEqual([]);
  }

  (ROOT ? it : it.skip)('refuses a directory another user pre-created with mode 0777, and its fake daemon', async () => {
    const p = await project((localport) => {
      mkdirSync(localport);
      chmodSync(localport, 0o777);
      chownSync(localport, ATTACKER, ATTACKER);
      return localport;
    });
    await attackFails(p, /[^ ]+\/localport is owned by uid 65534, not by you \(uid 0\)/);
  }, 60000);

  it('refuses a symlink planted in place of the directory, and the fake daemon behind it', async () => {
    const p = await project((localport, attackerDir) => {
      if (ROOT) chownSync(attackerDir, ATTACKER, ATTACKER);
      symlinkSync(attackerDir, localport);
      return attackerDir;
    });
    await attackFails(p, /[^ ]+\/localport is a symbolic link \(to [^ ]+\/attacker\), not a directory of yours/);
  }, 60000);
});
