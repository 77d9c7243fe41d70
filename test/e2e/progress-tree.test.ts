import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { BIN } from '../helpers/cli.js';
import { freePort, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer, hasSshd } from '../helpers/peers.js';
import { waitUntil } from '../helpers/procs.js';
import { startSshd, type SshdPeer } from '../helpers/sshd.js';

// The progress tree as a terminal shows it: `localport run` in a tmux pane (a real pseudo-terminal,
// 100×24), the pane's final frame captured by tmux itself. Two tcp services to a real HTTP server.

const TMUX = ['/usr/bin/tmux', '/bin/tmux'].find((p) => existsSync(p));

/** A tcp service to 127.0.0.1 in a config's `services:` list, with `extra` lines under it. */
const tcp = (name: string, local: number, remote: number, extra = '') =>
  `  - name: ${name}\n    technology: tcp\n    local_port: ${local}\n    remote_port: ${remote}\n    connection: { host: 127.0.0.1 }\n${extra}`;

/**
 * A tmux server of one test block's own (`-L name`): `tmux(...)` runs a tmux command on it, `frameWhen`
 * captures a pane until its frame says `done`, `kill` ends the server (and what its panes still run).
 */
function tmuxServer(name: string) {
  const tmux = (...args: string[]) => execFileSync(TMUX!, ['-L', name, ...args], { encoding: 'utf8' });
  return {
    tmux,
    /** `history`: the pane's scrollback too, not only what it shows now. */
    async frameWhen(pane: string, done: (frame: string) => boolean, what: string, history = false): Promise<string> {
      let frame = '';
      await waitUntil(
        () => {
          frame = tmux('capture-pane', '-p', '-t', pane, ...(history ? ['-S', '-'] : []));
          return done(frame);
        },
        20000,
        what,
      );
      return frame;
    },
    kill() {
      try {
        tmux('kill-server');
      } catch {
        /* already gone */
      }
    },
  };
}

describeWithPeer('tmux (apt-get install tmux)', TMUX !== undefined, 'the progress tree on a terminal', () => {
  let web: HttpPeer;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-tree-'));
  const session = `lp-tree-${process.pid}`;
  const { tmux, frameWhen, kill } = tmuxServer(session);

  beforeAll(async () => {
    web = await startHttpServer('tree');
  });
  afterAll(async () => {
    kill();
    await web?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows one node per service with its steps under it (connecting, listening, health with its result), the table, then the teardown phase by phase', async () => {
    const [api, db] = [await freePort(), await freePort()];
    writeFileSync(
      path.join(dir, 'localport.yaml'),
      `services:\n${tcp('api', api, web.port, '    health_check: { type: http, config: { path: /health } }\n')}${tcp('db', db, web.port)}`,
    );
    // tmux runs its command through a shell: the paths are ours, quoted; the command sleeps so the frame stays.
    const command = `cd '${dir}' && LOCALPORT_STATE_DIR='${path.join(dir, 'state')}' TERM=xterm-256color NO_COLOR=1 '${process.execPath}' '${BIN}' run -- sleep 2; sleep 30`;
    tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '24', command);
    // The teardown drawn to the end: its node complete, not only its last phase.
    const frame = await frameWhen(session, (f) => /force-kill — /.test(f) && /✔ stopping/.test(f), 'the tree, the status table, then the teardown');
    // The final frame: from the tree's last drawing (a loaded machine may show an earlier one above it).
    const normal = frame
      .slice(frame.lastIndexOf('✔ api:'))
      .replaceAll(String(api), 'API_PORT')
      .replaceAll(String(db), 'DB_PORT')
      .replaceAll(String(web.port), 'WEB_PORT')
      .replace(/checked \d+s ago/g, 'checked Ns ago')
      .replace(/\(checked [^)]*…/g, '(checked …')
      .replace(/ in \d+ ms/g, ' in N ms')
      .trimEnd();
    expect(normal).toMatchSnapshot();
    // Stop and teardown: the same tree, phase by phase, the services as they stop.
    expect(normal).toMatch(/✔ stopping \(the command exited\)\n  ✔ stop-new-work — done in N ms\n  ✔ complete-current — done in N ms\n  ✔ cancel-tasks: 2\/2 stopped — done in N ms\n  ✔ force-kill — done in N ms/);
    expect(normal).toContain('✔ api: healthy on localhost:API_PORT (127.0.0.1:WEB_PORT)\n  ✔ connected to 127.0.0.1:WEB_PORT\n  ✔ listening on localhost:API_PORT\n  ✔ health: http ok');
  }, 40000);

  it('start shows the same tree from the daemon, the failing step with its error under it', async () => {
    const [api, broken, closed] = [await freePort(), await freePort(), await freePort()];
    const project = mkdtempSync(path.join(dir, 'start-'));
    writeFileSync(
      path.join(project, 'localport.yaml'),
      `services:\n${tcp('api', api, web.port)}${tcp('broken', broken, closed)}`,
    );
    const env = `LOCALPORT_STATE_DIR='${path.join(project, 'state')}' TERM=xterm-256color NO_COLOR=1`;
    const name = `${session}-start`;
    tmux('new-session', '-d', '-s', name, '-x', '120', '-y', '24', `cd '${project}' && ${env} '${process.execPath}' '${BIN}' start; sleep 30`);
    let frame = '';
    try {
      frame = await frameWhen(name, (f) => /did not start: broken/.test(f), 'the failure summary under the tree');
    } finally {
      execFileSync(process.execPath, [BIN, 'daemon', 'stop'], { cwd: project, env: { ...process.env, LOCALPORT_STATE_DIR: path.join(project, 'state') } });
    }
    const normal = frame
      .slice(frame.lastIndexOf('✔ api:'))
      .replaceAll(String(api), 'API_PORT')
      .replaceAll(String(broken), 'BROKEN_PORT')
      .replaceAll(String(closed), 'CLOSED_PORT')
      .replaceAll(String(web.port), 'WEB_PORT')
      .replace(/\(pid \d+\)/g, '(pid N)')
      // The log's path (temporary directories; wrapped by the pane) is checked apart, below.
      .replace(/Logs: [\s\S]*$/, 'Logs: …')
      .replace(/ for \S+localport\.yaml/, ' for …/localport.yaml')
      .trimEnd();
    expect(normal).toContain('✔ api: healthy on localhost:API_PORT (127.0.0.1:WEB_PORT)\n  ✔ connected to 127.0.0.1:WEB_PORT\n  ✔ listening on localhost:API_PORT\n  ✔ health: tcp ok');
    // Failed: the node has the failure's mark (not `❯`, which says "running"), its step says what failed.
    expect(normal).toMatch(/✖ broken\n  ✖ could not connect to 127\.0\.0\.1:CLOSED_PORT\n    › service broken: connection refused by 127\.0\.0\.1:CLOSED_PORT/);
    expect(frame.replace(/\n/g, '')).toMatch(/Logs: broken: \S+\/logs\/services\/[^/]+\/broken\.log/);
    expect(normal).toMatchSnapshot();
  }, 40000);

  it('Ctrl-C while a service is not yet healthy: its node and its unfinished health step are skipped (↓), not passed (✔)', async () => {
    // A peer that accepts and closes every connection: the tunnel is up, the tcp check never passes.
    const closer = net.createServer((socket) => socket.destroy());
    await new Promise<void>((resolve) => closer.listen(0, '127.0.0.1', resolve));
    const [api, never] = [await freePort(), await freePort()];
    const project = mkdtempSync(path.join(dir, 'sigint-'));
    writeFileSync(
      path.join(project, 'localport.yaml'),
      `services:\n${tcp('api', api, web.port)}${tcp('never', never, (closer.address() as net.AddressInfo).port)}`,
    );
    const name = `${session}-sigint`;
    tmux('new-session', '-d', '-s', name, '-x', '120', '-y', '24', `cd '${project}' && LOCALPORT_STATE_DIR='${path.join(project, 'state')}' TERM=xterm-256color NO_COLOR=1 '${process.execPath}' '${BIN}' run -- sleep 20; sleep 30`);
    try {
      await frameWhen(name, (f) => /health: tcp — attempt 2/.test(f) && /✔ api: healthy/.test(f), 'never failing its health check');
      tmux('send-keys', '-t', name, 'C-c');
      const frame = await frameWhen(name, (f) => /✔ stopping \(received SIGINT\)/.test(f) && /force-kill — /.test(f), 'the teardown after Ctrl-C');
      const tree = frame.slice(frame.lastIndexOf('✔ api:'));
      expect(tree).toContain('✔ api: healthy');
      // Was `✔ never` and `✔ health: tcp — attempt 2, last: …`: a service never healthy drawn as passed.
      expect(tree).toMatch(/↓ never: interrupted before it was healthy\n  ✔ connected to 127\.0\.0\.1:\d+\n  ✔ listening on localhost:\d+\n  ↓ health: tcp — attempt \d+, last: /);
      expect(tree).not.toMatch(/✔ never|✔ health: tcp —/);
    } finally {
      closer.close();
    }
  }, 40000);

  it('a title that changes after the tree has ended does not draw the tree again', async () => {
    // What made `start` draw its tree twice: a poll already under way set a title once the list had
    // ended, and listr2 redrew the whole frame under the final one.
    const script = path.join(dir, 'late-title.mjs');
    writeFileSync(
      script,
      `const { progressList } = await import(${JSON.stringify(path.join(path.dirname(BIN), '..', 'app', 'progress.js'))});
let late;
const list = await progressList([{ title: 'api', task: async (_, task) => { late = task; task.title = 'api: healthy'; } }], true);
await list.run();
late.title = 'api: healthy';
await new Promise((r) => setTimeout(r, 300));
process.stderr.write('FINISHED\\n');
`,
    );
    const name = `${session}-late`;
    tmux('new-session', '-d', '-s', name, '-x', '100', '-y', '24', `TERM=xterm-256color NO_COLOR=1 '${process.execPath}' '${script}'; sleep 30`);
    const frame = await frameWhen(name, (f) => /FINISHED/.test(f), 'the script to finish', true);
    expect(frame.match(/✔ api: healthy/g)).toHaveLength(1);
  }, 40000);
});

describeWithPeer('tmux (apt-get install tmux)', TMUX !== undefined, 'stop and daemon stop draw the teardown as a tree', () => {
  let web: HttpPeer;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-tree-stop-'));
  const session = `lp-tree-stop-${process.pid}`;
  const { tmux, frameWhen, kill } = tmuxServer(session);

  beforeAll(async () => {
    web = await startHttpServer('tree');
  });
  afterAll(async () => {
    kill();
    try {
      execFileSync(process.execPath, [BIN, 'daemon', 'stop'], { cwd: dir, env: { ...process.env, LOCALPORT_STATE_DIR: path.join(dir, 'state') } });
    } catch {
      /* already stopped */
    }
    await web?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('stop shows each service as it stops; daemon stop the four phases, the services counted under cancel-tasks', async () => {
    const [api, db, cache] = [await freePort(), await freePort(), await freePort()];
    // vault needs a variable that is not set: unresolved, it never runs, and is not counted as stopping.
    const vault = `  - name: vault\n    technology: tcp\n    enabled: false\n    local_port: ${await freePort()}\n    remote_port: ${web.port}\n    connection: { host: "\${LOCALPORT_TEST_UNSET_HOST}" }\n`;
    writeFileSync(
      path.join(dir, 'localport.yaml'),
      `services:\n${tcp('api', api, web.port)}${tcp('db', db, web.port)}${tcp('cache', cache, web.port)}${vault}`,
    );
    const env = { ...process.env, LOCALPORT_STATE_DIR: path.join(dir, 'state') };
    execFileSync(process.execPath, [BIN, 'start', '--all'], { cwd: dir, env });
    const shell = `cd '${dir}' && LOCALPORT_STATE_DIR='${path.join(dir, 'state')}' TERM=xterm-256color NO_COLOR=1`;
    tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '30', `${shell} '${process.execPath}' '${BIN}' stop api; ${shell} '${process.execPath}' '${BIN}' daemon stop; echo FINISHED; sleep 30`);
    const frame = await frameWhen(session, (f) => /FINISHED/.test(f), 'both stops drawn');
    const normal = frame.replace(/ in \d+ ms/g, ' in N ms').replace(/\(pid \d+\)/g, '(pid N)');
    expect(normal).toContain('✔ stopping 1 service\n  ✔ api: stopped\n');
    expect(normal).toContain(
      '✔ stopping the daemon (pid N)\n  ✔ stop-new-work — done in N ms\n  ✔ complete-current — done in N ms\n  ✔ cancel-tasks: 2/2 stopped — done in N ms\n  ✔ force-kill — done in N ms\n',
    );
    expect(normal).toMatch(/LocalPort daemon \(pid N\) stopped in N ms/);
    // The phases fit in the whole: none ends after the stop it is part of.
    const daemonStop = frame.slice(frame.indexOf('stopping the daemon'));
    const phases = [...daemonStop.matchAll(/ — done in (\d+) ms/g)].map((m) => Number(m[1]));
    const whole = Number(/stopped in (\d+) ms/.exec(daemonStop)?.[1]);
    expect(phases).toHaveLength(4);
    expect(phases.reduce((a, b) => a + b, 0)).toBeLessThanOrEqual(whole);
  }, 40000);
});

// Services on one ssh endpoint ride on one shared master: the tree draws them under a node for it.
describeWithPeer('tmux and OpenSSH sshd', TMUX !== undefined && hasSshd, 'the progress tree groups services by their shared connection', () => {
  let web: HttpPeer;
  let sshd: SshdPeer;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-tree-ssh-'));
  const session = `lp-tree-ssh-${process.pid}`;
  const { tmux, frameWhen, kill } = tmuxServer(session);

  beforeAll(async () => {
    [web, sshd] = await Promise.all([startHttpServer('tree'), startSshd()]);
  });
  afterAll(async () => {
    kill();
    await Promise.all([web?.close(), sshd?.stop()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('draws the ssh services under their connection, each connected via it, and a service of its own apart', async () => {
    const [a, b, c] = [await freePort(), await freePort(), await freePort()];
    const conn = `{ host: 127.0.0.1, port: ${sshd.port}, user: ${sshd.user}, key_file: ${sshd.clientKey}, known_hosts_file: ${sshd.knownHosts}, strict_host_key_checking: 'yes', remote_host: 127.0.0.1 }`;
    writeFileSync(
      path.join(dir, 'localport.yaml'),
      ['a', 'b']
        .map((name, i) => `  - name: ${name}\n    technology: ssh\n    local_port: ${[a, b][i]}\n    remote_port: ${web.port}\n    connection: ${conn}\n`)
        .join('')
        .replace(/^/, 'services:\n') + tcp('c', c, web.port),
    );
    const command = `cd '${dir}' && LOCALPORT_STATE_DIR='${path.join(dir, 'state')}' TERM=xterm-256color NO_COLOR=1 '${process.execPath}' '${BIN}' run -- sleep 2; sleep 30`;
    tmux('new-session', '-d', '-s', session, '-x', '160', '-y', '40', command);
    const frame = await frameWhen(session, (f) => /force-kill — /.test(f) && /✔ stopping/.test(f), 'the tree, the status table, then the teardown');
    const normal = frame
      .slice(frame.lastIndexOf('✔ shared ssh'))
      .replaceAll(String(sshd.port), 'SSHD_PORT')
      .replaceAll(String(web.port), 'WEB_PORT')
      .replace(/\(pid \d+\)/g, '(pid N)');
    const target = `${sshd.user}@127.0.0.1:SSHD_PORT → 127.0.0.1:WEB_PORT`;
    expect(normal).toContain(`✔ shared ssh connection ${sshd.user}@127.0.0.1:SSHD_PORT (2 services)\n`);
    for (const [name, port] of [['a', a], ['b', b]] as const) {
      expect(normal).toContain(`  ✔ ${name}: healthy on localhost:${port} (${target})\n    ✔ connected to ${target} via ssh#1 (pid N)\n`);
    }
    // Not on the connection: its own node, at the top level.
    expect(normal).toMatch(new RegExp(`^✔ c: healthy on localhost:${c} `, 'm'));
    // The table says which connection each rides on, and what that connection is.
    expect(normal).toMatch(/^a\s+ssh\s+ready.*\sssh#1\s/m);
    expect(normal).toMatch(new RegExp(`^ssh#1: ${sshd.user}@127\\.0\\.0\\.1:SSHD_PORT — pid \\d+, up \\d+s, 0 restarts, 2 services$`, 'm'));
  }, 40000);

  /** A connection block for this sshd with `key`: the client's own key, or one sshd refuses. */
  const sshConn = (key: string) =>
    `{ host: 127.0.0.1, port: ${sshd.port}, user: ${sshd.user}, key_file: ${key}, known_hosts_file: ${sshd.knownHosts}, strict_host_key_checking: 'yes', remote_host: 127.0.0.1 }`;
  const wrongKey = () => {
    const key = path.join(dir, 'wrong_key');
    if (!existsSync(key)) execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', key]);
    return key;
  };
  /** Ports, pids, the user and connection numbers (which master is #1 is a race) made stable. */
  const normalized = (frame: string, ports: Record<string, number>) => {
    let out = frame.replaceAll(`${sshd.user}@`, 'USER@').replaceAll(String(sshd.port), 'SSHD_PORT').replaceAll(String(web.port), 'WEB_PORT');
    for (const [name, port] of Object.entries(ports)) out = out.replaceAll(String(port), name);
    return out
      .replace(/\(pid \d+\)/g, '(pid N)')
      .replace(/ssh#\d+/g, 'ssh#N')
      .replace(/Logs: [\s\S]*$/, 'Logs: …')
      .trimEnd();
  };

  it('run, a refused key: the failed node marked ✖, its step saying what failed; the service not waited for keeps its name', async () => {
    const [bad, slow] = [await freePort(), await freePort()];
    const project = mkdtempSync(path.join(dir, 'run-'));
    writeFileSync(
      path.join(project, 'localport.yaml'),
      `services:
  - name: badkey
    technology: ssh
    local_port: ${bad}
    remote_port: ${web.port}
    connection: ${sshConn(wrongKey())}
  - name: slow
    technology: exec
    local_port: ${slow}
    remote_port: 1
    connection: { command: sleep, args: ["30"], ready_pattern: "never printed" }
`,
    );
    const name = `${session}-run-fail`;
    const command = `cd '${project}' && LOCALPORT_STATE_DIR='${path.join(project, 'state')}' TERM=xterm-256color NO_COLOR=1 '${process.execPath}' '${BIN}' run -- true; echo FINISHED; sleep 30`;
    tmux('new-session', '-d', '-s', name, '-x', '200', '-y', '40', command);
    const frame = await frameWhen(name, (f) => /FINISHED/.test(f), 'the failed run and its teardown');
    const normal = normalized(frame.slice(frame.lastIndexOf('badkey\n') - 2), { BAD_PORT: bad, SLOW_PORT: slow });
    expect(normal).toContain('✖ badkey\n  ✖ could not connect to USER@127.0.0.1:SSHD_PORT → 127.0.0.1:WEB_PORT (shared connection ssh#N)\n    › service badkey: authentication refused by USER@127.0.0.1:SSHD_PORT');
    expect(normal).toContain('↓ slow: not waited for: badkey failed\n');
    expect(normal).not.toContain('waiting for the shared connection');
  }, 40000);

  it('start, one healthy and one refused key: the tree drawn once, the failure marked ✖ and said on its step', async () => {
    const [good, bad] = [await freePort(), await freePort()];
    const project = mkdtempSync(path.join(dir, 'start-'));
    writeFileSync(
      path.join(project, 'localport.yaml'),
      `services:
  - name: good
    technology: ssh
    local_port: ${good}
    remote_port: ${web.port}
    connection: ${sshConn(sshd.clientKey)}
  - name: badkey
    technology: ssh
    local_port: ${bad}
    remote_port: ${web.port}
    connection: ${sshConn(wrongKey())}
`,
    );
    const state = path.join(project, 'state');
    const name = `${session}-start-fail`;
    tmux('new-session', '-d', '-s', name, '-x', '200', '-y', '40', `cd '${project}' && LOCALPORT_STATE_DIR='${state}' TERM=xterm-256color NO_COLOR=1 '${process.execPath}' '${BIN}' start; echo FINISHED; sleep 30`);
    let frame = '';
    try {
      // The whole scrollback: a second drawing would be above the last one.
      frame = await frameWhen(name, (f) => /FINISHED/.test(f), 'the tree and the failure summary', true);
    } finally {
      execFileSync(process.execPath, [BIN, 'daemon', 'stop'], { cwd: project, env: { ...process.env, LOCALPORT_STATE_DIR: state } });
    }
    expect(frame.match(/✔ good: healthy/g)).toHaveLength(1);
    expect(frame.match(/ badkey\n/g)).toHaveLength(1);
    const normal = normalized(frame.slice(frame.indexOf('✔ good:')), { GOOD_PORT: good, BAD_PORT: bad });
    expect(normal).toMatchSnapshot();
  }, 40000);
});

describeWithPeer('tmux (apt-get install tmux)', TMUX !== undefined, 'status --watch on a terminal', () => {
  const session = `lp-watch-${process.pid}`;
  const { tmux, frameWhen, kill } = tmuxServer(session);
  let dir = '';
  beforeAll(() => {
    dir = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-watch-'));
  });
  afterAll(() => {
    kill();
    rmSync(dir, { recursive: true, force: true });
  });

  it('redraws on the alternate screen, so the scrollback keeps no copy of each frame; Ctrl-C leaves the last frame once', async () => {
    writeFileSync(path.join(dir, 'localport.yaml'), `services:\n  - { name: web, technology: tcp, local_port: ${await freePort()}, remote_port: 80, connection: { host: 127.0.0.1 } }\n`);
    const name = `${session}-w`;
    tmux('new-session', '-d', '-s', name, '-x', '120', '-y', '24', `cd '${dir}' && LOCALPORT_STATE_DIR='${path.join(dir, 'state')}' NO_COLOR=1 '${process.execPath}' '${BIN}' status --watch --interval 0.1; echo EXITED $?; sleep 30`);
    await frameWhen(name, (f) => /^web +tcp +stopped/m.test(f), 'the first frame');
    // Ten redraws or so.
    await new Promise((r) => setTimeout(r, 1200));
    tmux('send-keys', '-t', name, 'C-c');
    const all = await frameWhen(name, (f) => f.includes('EXITED'), 'status to exit', true);
    expect(all).toContain('EXITED 0');
    expect(all.match(/^SERVICE /gm)).toHaveLength(1);
    expect(all).toMatch(/^web +tcp +stopped/m);
  }, 30000);
});
