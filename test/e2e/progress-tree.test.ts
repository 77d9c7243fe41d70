import { execFileSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { BIN } from '../helpers/cli.js';
import { freePort, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer } from '../helpers/peers.js';
import { waitUntil } from '../helpers/procs.js';

// The progress tree as a terminal shows it: `localport run` in a tmux pane (a real pseudo-terminal,
// 100×24), the pane's final frame captured by tmux itself. Two tcp services to a real HTTP server.

const TMUX = ['/usr/bin/tmux', '/bin/tmux'].find((p) => existsSync(p));

describeWithPeer('tmux (apt-get install tmux)', TMUX !== undefined, 'the progress tree on a terminal', () => {
  let web: HttpPeer;
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-tree-'));
  const session = `lp-tree-${process.pid}`;
  const tmux = (...args: string[]) => execFileSync(TMUX!, ['-L', session, ...args], { encoding: 'utf8' });

  beforeAll(async () => {
    web = await startHttpServer('tree');
  });
  afterAll(async () => {
    try {
      tmux('kill-server');
    } catch {
      /* already gone */
    }
    await web?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('shows one node per service with its steps under it (connecting, listening, health with its result), the table, then the teardown phase by phase', async () => {
    const [api, db] = [await freePort(), await freePort()];
    writeFileSync(
      path.join(dir, 'localport.yaml'),
      `services:
  - name: api
    technology: tcp
    local_port: ${api}
    remote_port: ${web.port}
    connection: { host: 127.0.0.1 }
    health_check: { type: http, config: { path: /health } }
  - name: db
    technology: tcp
    local_port: ${db}
    remote_port: ${web.port}
    connection: { host: 127.0.0.1 }
`,
    );
    // tmux runs its command through a shell: the paths are ours, quoted; the command sleeps so the frame stays.
    const command = `cd '${dir}' && LOCALPORT_STATE_DIR='${path.join(dir, 'state')}' TERM=xterm-256color NO_COLOR=1 '${process.execPath}' '${BIN}' run -- sleep 2; sleep 30`;
    tmux('new-session', '-d', '-s', session, '-x', '100', '-y', '24', command);
    let frame = '';
    await waitUntil(
      () => {
        frame = tmux('capture-pane', '-p', '-t', session);
        // The teardown drawn to the end: its node complete, not only its last phase.
        return /force-kill — /.test(frame) && /✔ stopping/.test(frame);
      },
      20000,
      'the tree, the status table, then the teardown',
    );
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
      `services:
  - name: api
    technology: tcp
    local_port: ${api}
    remote_port: ${web.port}
    connection: { host: 127.0.0.1 }
  - name: broken
    technology: tcp
    local_port: ${broken}
    remote_port: ${closed}
    connection: { host: 127.0.0.1 }
`,
    );
    const env = `LOCALPORT_STATE_DIR='${path.join(project, 'state')}' TERM=xterm-256color NO_COLOR=1`;
    const name = `${session}-start`;
    tmux('new-session', '-d', '-s', name, '-x', '120', '-y', '24', `cd '${project}' && ${env} '${process.execPath}' '${BIN}' start; sleep 30`);
    let frame = '';
    try {
      await waitUntil(
        () => {
          frame = tmux('capture-pane', '-p', '-t', name);
          return /did not start: broken/.test(frame);
        },
        20000,
        'the failure summary under the tree',
      );
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
    expect(normal).toMatch(/broken\n  ✖ connecting to 127\.0\.0\.1:CLOSED_PORT\n    › service broken: connection refused by 127\.0\.0\.1:CLOSED_PORT/);
    expect(frame.replace(/\n/g, '')).toMatch(/Logs: broken: \S+\/logs\/services\/[^/]+\/broken\.log/);
    expect(normal).toMatchSnapshot();
  }, 40000);
});
