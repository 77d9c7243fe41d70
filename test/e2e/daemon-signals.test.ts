import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, expect, it } from '@jest/globals';
import { stopProjects } from '../helpers/daemons.js';
import { runCli } from '../helpers/cli.js';
import { FAKE_TUNNEL } from '../helpers/fake-tech.js';
import { freePort } from '../helpers/net.js';
import { alive, waitUntil } from '../helpers/procs.js';

// The daemon's signals, as the original design's signal state machine has them: SIGUSR1 reloads like
// SIGHUP, SIGUSR2 writes a status report to the daemon's log, and a burst of signals is one reload.
// The built CLI, its detached daemon, real tunnel processes.
//
// The config is a .mjs file that reads its services from services.json: the daemon watches the config
// file but not what the config reads, so only the signal can make it see an edit of services.json.

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-signals-'));
const projects: { dir: string; env: NodeJS.ProcessEnv }[] = [];
afterEach(() => stopProjects(projects));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const SECRET = 's3cr3t-in-the-report';

async function project() {
  const dir = mkdtempSync(path.join(root, 'p-'));
  // The secret reaches the daemon through ${VAR}: the report must not carry it.
  const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state'), TEXTSIG_TOKEN: SECRET };
  projects.push({ dir, env });
  const ports = { web: await freePort(), api: await freePort() };
  const service = (name: 'web' | 'api', mode = 'ok') => ({
    name,
    technology: 'exec',
    local_port: ports[name],
    remote_port: 80,
    health_check: { type: 'tcp', interval: 0.5 },
    connection: { command: process.execPath, args: [FAKE_TUNNEL, '{localPort}', mode], env: { TOKEN: '${TEXTSIG_TOKEN}' } },
  });
  writeFileSync(
    path.join(dir, 'localport.config.mjs'),
    `import { readFileSync } from 'node:fs';\nexport default { services: JSON.parse(readFileSync(new URL('./services.json', import.meta.url), 'utf8')) };\n`,
  );
  const setServices = (list: object[]) => writeFileSync(path.join(dir, 'services.json'), JSON.stringify(list));
  const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });
  const daemonPid = async () => {
    const r = await cli('daemon', 'status', '--json');
    return (JSON.parse(r.stdout) as { pid: number }).pid;
  };
  const log = async () => (await cli('logs', '-n', '1000')).stdout;
  return { dir, service, setServices, cli, daemonPid, log };
}

it('SIGUSR1 applies an edited config (status shows it), and 20 SIGUSR1 in a burst are one reload', async () => {
  const p = await project();
  p.setServices([p.service('web')]);
  expect((await p.cli('start', '--all')).code).toBe(0);
  const pid = await p.daemonPid();

  p.setServices([p.service('web'), p.service('api')]);
  process.kill(pid, 'SIGUSR1');
  await waitUntil(async () => (await p.cli('status', '--output', 'text')).stdout.includes('\napi ready '), 15000, 'api started after SIGUSR1');
  expect(alive(pid)).toBe(true);
  expect(await p.daemonPid()).toBe(pid);
  expect((await p.log()).match(/config reloaded \(SIGUSR1\): \+1 -0 ~0/g)).toHaveLength(1);

  // A burst: one reload, whatever the count. The reload removes api, so a second one would say +0 -0.
  p.setServices([p.service('web')]);
  for (let i = 0; i < 20; i++) process.kill(pid, 'SIGUSR1');
  await waitUntil(async () => !(await p.cli('status', '--output', 'text')).stdout.includes('\napi '), 15000, 'api removed after the burst');
  await new Promise((r) => setTimeout(r, 1000));
  const reloads = (await p.log()).split('\n').filter((l) => /config reload/.test(l) && /SIGUSR1/.test(l));
  expect(reloads).toHaveLength(2);
  // The kernel itself merges a signal that is already pending: the count is of those that reached the daemon.
  expect(reloads[1]).toMatch(/config reloaded \(SIGUSR1(, ([2-9]|1\d|20) signals in one burst)?\): \+0 -1 ~0$/);
  expect(alive(pid)).toBe(true);
});

it('SIGUSR2 writes a redacted status report of every service to the log (one per burst), and the daemon stays findable', async () => {
  const p = await project();
  // `down` fails at once: its command does not exist, and its last error quotes that command, secret included.
  const down = p.service('api');
  p.setServices([p.service('web'), { ...down, name: 'down', restart_policy: { enabled: false }, connection: { ...down.connection, command: '/nonexistent/${TEXTSIG_TOKEN}' } }]);
  await p.cli('start', '--all');
  const pid = await p.daemonPid();
  await waitUntil(async () => / healthy /.test((await p.cli('status', '--output', 'text')).stdout), 15000, 'web healthy');

  for (let i = 0; i < 5; i++) process.kill(pid, 'SIGUSR2');
  await waitUntil(async () => (await p.log()).includes('status report: down'), 10000, 'the status report in the log');
  await new Promise((r) => setTimeout(r, 1000));
  const log = await p.log();
  const report = log.split('\n').filter((l) => l.includes('status report'));
  expect(report).toHaveLength(3);
  // The kernel itself merges a signal that is already pending: the count is of those that reached the daemon.
  expect(report[0]).toMatch(/info status report \(SIGUSR2(, [2-5] signals in one burst)?\): 2 services: 1 ready, 1 failed$/);
  expect(report[1]).toMatch(/info status report: web state=ready health=tcp healthy pid=\d+ restarts=0 local=127\.0\.0\.1:\d+ last error: -$/);
  expect(report[2]).toMatch(/info status report: down state=failed health=tcp \w+ pid=- restarts=0 local=127\.0\.0\.1:\d+ last error: .*\/nonexistent\/\*\*\*/);
  expect(log).not.toContain(SECRET);
  expect(alive(pid)).toBe(true);
  // Still the client's wake-up signal: the daemon answers as before.
  expect((await p.cli('status', '--output', 'text')).code).toBe(0);
});
