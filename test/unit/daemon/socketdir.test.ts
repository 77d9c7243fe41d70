import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { request } from '../../../app/control/client.js';
import { chooseSocket } from '../../../app/control/locate.js';
import { daemonPaths, SOCKET_PATH_MAX, socketCandidates } from '../../../app/control/sockets.js';
import { ABSENT, prepareSocketDir, socketDirProblem, socketProblem } from '../../../app/control/socketdir.js';

// Another user, as the attacker: CI runs as root and can hand files to `nobody`.
const ROOT = process.getuid!() === 0;
const OTHER = 65534;
const asRoot = ROOT ? it : it.skip;
if (!ROOT) process.stderr.write('\n*** SKIPPED: the control-socket tests that chown to another uid need root (CI runs as root)\n\n');

describe('control socket trust checks', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'lp-sockdir-'));
  afterAll(() => rmSync(root, { recursive: true, force: true }));
  let n = 0;
  const fresh = () => {
    const d = path.join(root, `c${n++}`);
    mkdirSync(d, { mode: 0o700 });
    return d;
  };
  const listen = (p: string) =>
    new Promise<net.Server>((resolve) => {
      const s = net.createServer((c) => c.end('{"id":1,"ok":true,"result":{"pid":1}}\n'));
      s.listen(p, () => resolve(s));
    });

  it('creates a missing directory 0700 and accepts it; a missing one is absent, not a problem', () => {
    const dir = path.join(fresh(), 'localport');
    expect(socketDirProblem(dir)).toBe(ABSENT);
    expect(prepareSocketDir(dir)).toBeUndefined();
    expect(socketDirProblem(dir)).toBeUndefined();
    expect(socketProblem(path.join(dir, 'x.sock'))).toBe(ABSENT);
  });

  it('refuses a directory others can reach, a symlink, a file — and never repairs it', () => {
    const open = path.join(fresh(), 'localport');
    mkdirSync(open);
    chmodSync(open, 0o777);
    expect(prepareSocketDir(open)).toMatchObject({ message: expect.stringMatching(/accessible by group or others \(mode 0777\); it must be 0700/) });
    expect(socketDirProblem(open)).toMatchObject({ hint: expect.stringContaining(`chmod 700 ${open}`) });
    const readable = path.join(fresh(), 'localport');
    mkdirSync(readable, { mode: 0o700 });
    chmodSync(readable, 0o750);
    expect(socketDirProblem(readable)).toMatchObject({ message: expect.stringContaining('mode 0750') });

    const target = fresh();
    const link = path.join(fresh(), 'localport');
    symlinkSync(target, link);
    expect(prepareSocketDir(link)).toMatchObject({ message: `${link} is a symbolic link (to ${target}), not a directory of yours` });

    const file = path.join(fresh(), 'localport');
    writeFileSync(file, '');
    expect(prepareSocketDir(file)).toMatchObject({ message: `${file} is not a directory` });
  });

  it('refuses a parent that others can write to unless it is sticky (like /tmp)', () => {
    const shared = fresh();
    chmodSync(shared, 0o777);
    const dir = path.join(shared, 'localport');
    expect(prepareSocketDir(dir)).toMatchObject({ message: expect.stringMatching(/its parent .* is writable by others \(mode 0777\) and not sticky/) });
    chmodSync(shared, 0o1777);
    expect(socketDirProblem(dir)).toBeUndefined();
  });

  asRoot('refuses a directory or a socket owned by another user (as root: chown to nobody)', async () => {
    const dir = path.join(fresh(), 'localport');
    mkdirSync(dir, { mode: 0o700 });
    chownSync(dir, OTHER, OTHER);
    expect(socketDirProblem(dir)).toMatchObject({ message: `${dir} is owned by uid ${OTHER}, not by you (uid 0)`, hint: expect.stringContaining('Another local user may have planted it') });

    const mine = fresh();
    const sock = path.join(mine, 'x.sock');
    const server = await listen(sock);
    try {
      expect(socketProblem(sock)).toBeUndefined();
      chownSync(sock, OTHER, OTHER);
      expect(socketProblem(sock)).toMatchObject({ message: `${sock} is owned by uid ${OTHER}, not by you (uid 0)` });
      // The client never connects to it: the fake would have answered.
      await expect(request(sock, 'ping')).rejects.toMatchObject({ code: 'DAEMON_SOCKET_UNSAFE', message: expect.stringContaining('refusing to talk to the control socket') });
    } finally {
      server.close();
    }

    // A parent owned by someone else (root with a user's XDG_RUNTIME_DIR, e.g. through sudo): they could swap it.
    const theirs = fresh();
    chownSync(theirs, OTHER, OTHER);
    expect(socketDirProblem(path.join(theirs, 'localport'))).toBe(ABSENT);
    expect(prepareSocketDir(path.join(theirs, 'localport'))).toMatchObject({ message: expect.stringContaining(`its parent ${theirs} belongs to uid ${OTHER}`) });
  });

  it('the daemon falls back to the next candidate, reporting each refused one', () => {
    const bad = path.join(fresh(), 'localport');
    mkdirSync(bad);
    chmodSync(bad, 0o777);
    const good = path.join(fresh(), 'localport');
    const refused: string[] = [];
    expect(chooseSocket([path.join(bad, 'a.sock'), path.join(good, 'a.sock')], (r) => refused.push(r.problem.message))).toBe(path.join(good, 'a.sock'));
    expect(refused).toEqual([expect.stringContaining(`${bad} is accessible by group or others`)]);
    expect(() => chooseSocket([path.join(bad, 'a.sock')], () => {})).toThrow(/no safe directory for the control socket/);
  });

  it('socket paths depend on the user and the config path, never live in the state dir first, and fit in sun_path', () => {
    const env = { LOCALPORT_STATE_DIR: '/state', TMPDIR: '/var/tmp/' };
    const uid = process.getuid!();
    const p = daemonPaths('/work/a/localport.yaml', env);
    expect(p.sockets).toEqual([`/var/tmp/localport-${uid}/${p.id}.sock`, `/tmp/localport-${uid}/${p.id}.sock`, `/state/run/${p.id}.sock`]);
    expect(p.socket).toBe(p.sockets[0]);
    expect(daemonPaths('/work/b/localport.yaml', env).id).not.toBe(p.id);
    expect(socketCandidates(p.id, { ...env, XDG_RUNTIME_DIR: '/run/user/7' })[0]).toBe(`/run/user/7/localport/${p.id}.sock`);
    // A runtime or temp dir too long for sun_path is skipped, not truncated.
    const long = `/${'x'.repeat(120)}`;
    const c = socketCandidates(p.id, { ...env, XDG_RUNTIME_DIR: long, TMPDIR: long });
    expect(c[0]).toBe(`/tmp/localport-${uid}/${p.id}.sock`);
    expect(c.every((s) => Buffer.byteLength(s) <= SOCKET_PATH_MAX)).toBe(true);
  });
});
