import { execFileSync } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, expect, it } from '@jest/globals';
import { stopProjects } from '../helpers/daemons.js';
import { runCli } from '../helpers/cli.js';
import { aliasBombYaml } from '../helpers/config-bombs.js';
import { freePort } from '../helpers/net.js';
import { alive, waitUntil } from '../helpers/procs.js';

// A running daemon whose config file is overwritten with something that must not take it down:
// an alias bomb, code that never finishes, code that calls process.exit; and a daemon whose
// plugin throws from a timer. The tunnel is test/fixtures/fake-tunnel.mjs, a real child process.

const FAKE_TUNNEL = fileURLToPath(new URL('../fixtures/fake-tunnel.mjs', import.meta.url));
const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-dguard-'));
const started: { dir: string; env: NodeJS.ProcessEnv }[] = [];

// Whatever a test left running: its daemon, then anything of its directory, by PID.
afterEach(() => stopProjects(started));
afterAll(() => rmSync(root, { recursive: true, force: true }));

interface Status {
  reloadError: string | null;
  runner: { pid: number } | null;
  services: { name: string; state: string; pid: number | null }[];
}

const tunnel = () => ({ command: process.execPath, args: [FAKE_TUNNEL, '{localPort}', 'ok'], ready_pattern: 'LISTENING' });

async function daemon(file: string, text: string) {
  const dir = mkdtempSync(path.join(root, 'p-'));
  const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state'), LOCALPORT_CONFIG_TIMEOUT: '1' };
  started.push({ dir, env });
  const config = path.join(dir, file);
  writeFileSync(config, text);
  const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 20_000 });
  /** Status through the socket, and how long the daemon took to answer. */
  const status = async (): Promise<Status & { ms: number }> => {
    const t0 = Date.now();
    const r = await cli('status', '--output', 'json');
    expect(r.code).toBe(0);
    return { ...(JSON.parse(r.stdout) as Status), ms: Date.now() - t0 };
  };
  const start = await cli('start', '--all');
  expect(start.code).toBe(0);
  const first = await status();
  expect(first.services.map((s) => s.state)).toEqual(['ready']);
  return { dir, config, cli, status, daemonPid: first.runner!.pid, tunnelPid: first.services[0].pid! };
}

/** Every line of every log file under `dir`. */
function logs(dir: string): string {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const e of readdirSync(d)) {
      const p = path.join(d, e);
      if (statSync(p).isDirectory()) walk(p);
      else if (e.endsWith('.log')) out.push(readFileSync(p, 'utf8'));
    }
  };
  walk(dir);
  return out.join('\n');
}

it('keeps its config, its services and its socket when the config becomes an alias bomb', async () => {
  const port = await freePort();
  const d = await daemon('localport.yaml', `services:\n  - name: web\n    technology: exec\n    local_port: ${port}\n    remote_port: 80\n    connection: ${JSON.stringify(tunnel())}\n`);
  writeFileSync(d.config, aliasBombYaml());
  let last: Status & { ms: number } = await d.status();
  await waitUntil(
    async () => {
      last = await d.status();
      // The socket answers within a second or two the whole time.
      expect(last.ms).toBeLessThan(2500);
      return last.reloadError !== null;
    },
    5000,
    'the reload error',
  );
  expect(last.reloadError).toBe(`${d.config}: services: the config expands to more than 100000 values (YAML anchors/aliases that nest?); write it out without nested aliases`);
  expect(last.runner!.pid).toBe(d.daemonPid);
  expect(last.services.map((s) => [s.name, s.state, s.pid])).toEqual([['web', 'ready', d.tunnelPid]]);
  expect(alive(d.daemonPid) && alive(d.tunnelPid)).toBe(true);
});

it('survives a plugin timer that throws or rejects, then reloads of config code that never finishes or calls process.exit', async () => {
  const port = await freePort();
  const valid = `export default { services: { web: { technology: 'exec', local_port: ${port}, remote_port: 80, connection: ${JSON.stringify(tunnel())} } } };\n`;
  const d = await daemon(
    'localport.config.ts',
    `export default {
  services: { web: { technology: 'exec', local_port: ${port}, remote_port: 80, connection: ${JSON.stringify(tunnel())} } },
  plugins: [{ name: 'late-timer', apply(api: any) {
    api.hooks.afterStart.tapPromise('late-timer', async () => {
      setTimeout(() => { throw new Error('late boom'); }, 20);
      setTimeout(() => void Promise.reject(new Error('late rejection')), 40);
    });
  } }],
};
`,
  );
  // Logged, naming the file, and the daemon carries on.
  await waitUntil(() => logs(d.dir).includes('late rejection'), 5000, 'the logged exceptions');
  expect(logs(d.dir)).toContain(`uncaught exception in config ${d.config}: late boom; the daemon carries on`);
  expect(logs(d.dir)).toContain(`uncaught exception in config ${d.config}: late rejection; the daemon carries on`);
  expect(alive(d.daemonPid)).toBe(true);

  writeFileSync(d.config, `setInterval(() => {}, 1000);\nexport default new Promise(() => {});\n`);
  let last: Status & { ms: number } = await d.status();
  await waitUntil(
    async () => {
      last = await d.status();
      expect(last.ms).toBeLessThan(2500); // answers while the reload waits for the config
      return last.reloadError !== null;
    },
    6000,
    'the time-out',
  );
  expect(last.reloadError).toBe(`${d.config}: did not finish loading within 1 s (a default export, factory or top-level await that never resolves?)`);

  writeFileSync(d.config, `process.exit(0);\n${valid}`);
  await waitUntil(async () => (last = await d.status()).reloadError!.includes('process.exit'), 5000, 'the process.exit error');
  expect(last.reloadError).toBe(`${d.config}: called process.exit(0) while it was loading`);
  expect(last.runner!.pid).toBe(d.daemonPid);
  expect(last.services.map((s) => [s.name, s.state, s.pid])).toEqual([['web', 'ready', d.tunnelPid]]);
});

it('is not wedged by a config file that becomes a FIFO for a while: the reload is refused at once, and the file restored applies', async () => {
  const [port, port2] = [await freePort(), await freePort()];
  const service = (name: string, p: number) => `  - name: ${name}\n    technology: exec\n    local_port: ${p}\n    remote_port: 80\n    connection: ${JSON.stringify(tunnel())}\n`;
  const d = await daemon('localport.yaml', `services:\n${service('web', port)}`);
  // Reading a FIFO blocks until a writer comes: one read would hold a thread of Node's pool forever.
  rmSync(d.config);
  execFileSync('mkfifo', [d.config]);
  const refused = await d.cli('daemon', 'reload');
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain(`${d.config}: is a named pipe (FIFO), not a regular file`);
  rmSync(d.config);
  writeFileSync(d.config, `services:\n${service('web', port)}${service('added', port2)}`);
  const applied = await d.cli('daemon', 'reload');
  expect(applied.code).toBe(0);
  await waitUntil(async () => (await d.status()).services.every((s) => s.state === 'ready'), 5000, 'both services ready');
  expect((await d.status()).services.map((s) => s.name)).toEqual(['web', 'added']);
  expect((await d.cli('daemon', 'stop')).code).toBe(0);
  await waitUntil(() => !alive(d.daemonPid), 3000, 'the daemon gone');
});

it('keeps running when a reloaded config calls process.exit later, from a timer', async () => {
  const port = await freePort();
  const services = `services: { web: { technology: 'exec', local_port: ${port}, remote_port: 80, connection: ${JSON.stringify(tunnel())} } }`;
  const d = await daemon('localport.config.ts', `export default { ${services} };\n`);
  writeFileSync(d.config, `setTimeout(() => process.exit(5), 100);\nexport default { ${services} };\n`);
  await waitUntil(() => logs(d.dir).includes('called process.exit(5)'), 5000, 'the refused exit logged');
  expect(logs(d.dir)).toContain(`uncaught exception in config ${d.config}: called process.exit(5); ignored: LocalPort keeps its tunnels up; the daemon carries on`);
  await new Promise((r) => setTimeout(r, 300));
  const now = await d.status();
  expect([now.runner!.pid, now.services[0].state, now.services[0].pid]).toEqual([d.daemonPid, 'ready', d.tunnelPid]);
});
