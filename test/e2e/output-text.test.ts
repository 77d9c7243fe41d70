import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, expect, it } from '@jest/globals';
import { serviceLogFile } from '../../core/dirs.js';
import { field } from '../../plugins/format-text/index.js';
import { stopProjects } from '../helpers/daemons.js';
import { runCli } from '../helpers/cli.js';
import { FAKE_TUNNEL } from '../helpers/fake-tech.js';
import { freePort } from '../helpers/net.js';
import { waitUntil } from '../helpers/procs.js';

// `--output text`, for scripts: one plain line per service (or check, or log file), fields separated
// by one space in a fixed order, no header, no colour. The built CLI, a real daemon, real tunnels.

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-text-'));
const projects: { dir: string; env: NodeJS.ProcessEnv }[] = [];
afterEach(() => stopProjects(projects));
afterAll(() => rmSync(root, { recursive: true, force: true }));

async function project() {
  const dir = mkdtempSync(path.join(root, 'p-'));
  const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state') };
  projects.push({ dir, env });
  const [webPort, offPort] = [await freePort(), await freePort()];
  writeFileSync(
    path.join(dir, 'localport.yaml'),
    `services:
  - name: web
    technology: exec
    local_port: ${webPort}
    remote_port: 80
    tags: [front, api]
    health_check: { type: tcp, interval: 0.5 }
    connection: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FAKE_TUNNEL)}, '{localPort}', ok] }
  - name: off
    technology: exec
    enabled: false
    local_port: ${offPort}
    remote_port: 81
    connection: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FAKE_TUNNEL)}, '{localPort}', ok] }
`,
  );
  const text = async (...args: string[]) => {
    const r = await runCli([...args, '--output', 'text'], { cwd: dir, env, timeoutMs: 30000 });
    return { ...r, lines: r.stdout.split('\n').filter((l, i, all) => i < all.length - 1 || l !== '') };
  };
  // The target as the exec technology describes it (its command, then the remote port), the space encoded.
  const target = (port: number) => field(`${process.execPath} :${port === webPort ? 80 : 81}`);
  return { dir, env, webPort, offPort, text, target, file: path.join(dir, 'localport.yaml') };
}

it("logs --list lists this config's service logs, by service name; --list --all every config's, as PROJECT/SERVICE", async () => {
  const state = path.join(mkdtempSync(path.join(root, 'shared-')), 'state');
  const env = { LOCALPORT_STATE_DIR: state };
  const configs = ['proj1', 'proj2'].map((name) => {
    const dir = path.join(path.dirname(state), name);
    mkdirSync(dir);
    const file = path.join(dir, 'localport.yaml');
    writeFileSync(file, `services:\n  - name: web\n    technology: tcp\n    local_port: 27010\n    remote_port: 80\n    connection: { host: 127.0.0.1 }\n`);
    // What a run of that config leaves: its service's log, in the config's own folder.
    const log = serviceLogFile('web', file, env);
    mkdirSync(path.dirname(log), { recursive: true });
    writeFileSync(log, `${name}\n`);
    return { dir, log };
  });
  const list = (dir: string, ...args: string[]) => runCli(['logs', '--list', ...args, '-o', 'text'], { cwd: dir, env });
  const own = await list(configs[0].dir);
  // Was every config's: proj2-…/web listed too, from proj1's directory.
  expect([own.code, own.stdout]).toEqual([0, `web 6 ${own.stdout.split(' ')[2]} ${configs[0].log}\n`]);
  const all = await list(configs[0].dir, '--all');
  expect(all.code).toBe(0);
  expect(all.stdout.trim().split('\n').map((l) => l.split(' ')[0])).toEqual(configs.map((c) => `${path.basename(path.dirname(c.log))}/web`));
  const misused = await runCli(['logs', '--all'], { cwd: configs[0].dir, env });
  expect([misused.code, misused.stderr.trim()]).toEqual([2, `error: --all goes with --list\nhint: localport logs --list --all lists every config's service logs.`]);
});

const ISO = '\\d{4}-\\d\\d-\\d\\dT\\d\\d:\\d\\d:\\d\\d\\.\\d{3}Z';
const esc = (s: string) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

it('encodes a field so that it holds no space: spaces, tabs, newlines and % as %XX, empty as -, a lone - as %2D', () => {
  expect(field('a b\tc\nd%e\rf')).toBe('a%20b%09c%0Ad%25e%0Df');
  expect([field(''), field(null), field(undefined), field('-'), field(0), field('x-y')]).toEqual(['-', '-', '-', '%2D', '0', 'x-y']);
  expect(field('bell\x07')).not.toMatch(/\x07/);
});

it('status, config validate, config print, doctor, logs --list and daemon status print exact lines, with and without a daemon', async () => {
  const p = await project();

  // No daemon: every service stopped, no header, no runner line.
  let r = await p.text('status');
  expect(r.code).toBe(0);
  expect(r.lines).toEqual([`web stopped - 127.0.0.1:${p.webPort} - 0 exec ${p.target(p.webPort)} - - -`, `off stopped - 127.0.0.1:${p.offPort} - 0 exec ${p.target(p.offPort)} - - -`]);

  r = await p.text('config', 'validate');
  expect([r.code, r.lines]).toEqual([0, ['web exec enabled', 'off exec disabled']]);

  r = await p.text('config', 'print');
  expect([r.code, r.lines]).toEqual([0, [`web exec enabled ${p.webPort} 80 tcp front,api local`, `off exec disabled ${p.offPort} 81 tcp - local`]]);

  r = await p.text('doctor');
  expect(r.code).toBe(0);
  expect(r.lines).toEqual([`ok exec command ${field(process.execPath)} web,off ${field(`found at ${process.execPath}`)}`]);

  // Nothing to list is no output at all (not an empty line).
  r = await p.text('logs', '--list');
  expect([r.code, r.stdout]).toEqual([0, '']);

  r = await p.text('daemon', 'status');
  expect([r.code, r.lines]).toEqual([0, [`not-running - ${p.file} - - -`]]);

  // With a daemon: web ready and healthy, with its pid; off still stopped.
  expect((await runCli(['start', 'web'], { cwd: p.dir, env: p.env, timeoutMs: 30000 })).code).toBe(0);
  let web = '';
  await waitUntil(async () => {
    r = await p.text('status');
    web = r.lines[0] ?? '';
    return / healthy /.test(web);
  }, 15000, 'web healthy in status -o text');
  expect(r.lines).toHaveLength(2);
  expect(web).toMatch(new RegExp(`^web ready healthy 127\\.0\\.0\\.1:${p.webPort} \\d+ 0 exec ${esc(p.target(p.webPort))} ${ISO} - -$`));
  expect(r.lines[1]).toBe(`off stopped - 127.0.0.1:${p.offPort} - 0 exec ${p.target(p.offPort)} - - -`);
  for (const l of r.lines) expect(l).not.toMatch(/\x1b|\t|  /);

  r = await p.text('daemon', 'status');
  expect(r.code).toBe(0);
  expect(r.lines).toHaveLength(1);
  expect(r.lines[0]).toMatch(new RegExp(`^running \\d+ ${esc(p.file)} \\S+\\.sock ready=1,stopped=1 -$`));

  r = await p.text('logs', '--list');
  expect(r.code).toBe(0);
  expect(r.lines).toHaveLength(1);
  // This config's logs, named by service (`logs --list --all` adds the project: `p-xyz-1234abcd/web`).
  expect(r.lines[0]).toMatch(new RegExp(`^web \\d+ ${ISO} ${esc(p.env.LOCALPORT_STATE_DIR!)}/logs/services/\\S+/web\\.log$`));

  r = await p.text('stop');
  expect([r.code, r.lines]).toEqual([0, ['web stopped']]);
});

it('an error is "error CODE message" on stderr, and nothing on stdout', async () => {
  const p = await project();
  const r = await runCli(['status', '--output', 'text', '--config', 'missing.yaml'], { cwd: p.dir, env: p.env });
  expect(r.code).toBe(2);
  expect(r.stdout).toBe('');
  expect(r.stderr.split('\n')[0]).toBe(`error CONFIG_NOT_FOUND --config: config file not found: ${path.join(p.dir, 'missing.yaml')}`);
  expect(r.stderr).toMatch(/^hint \S/m);
});
