import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { runCli, startCli, type CliResult } from '../helpers/cli.js';
import { stopProjects } from '../helpers/daemons.js';
import { freePort } from '../helpers/net.js';

// Issue 11: one output and error boundary. Every command prints one JSON document with
// schemaVersion under -o json (NDJSON for `logs`, an entry a line), errors included; a plugin's bug shows its
// stack and whom to report it to, while a plugin that rejects the config is one line.

const FAKE_TUNNEL = fileURLToPath(new URL('../fixtures/fake-tunnel.mjs', import.meta.url));
const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-output-'));
const started: { dir: string; env: NodeJS.ProcessEnv }[] = [];
afterEach(() => stopProjects(started));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const SECRET = 'out-secret-7781';

async function project() {
  const dir = mkdtempSync(path.join(root, 'p-'));
  const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state'), TUNNEL_TOKEN: SECRET };
  started.push({ dir, env });
  const port = await freePort();
  const tunnel = { command: process.execPath, args: [FAKE_TUNNEL, '{localPort}', '${TUNNEL_TOKEN}'], ready_pattern: 'LISTENING' };
  writeFileSync(path.join(dir, 'localport.yaml'), `services:\n  - name: web\n    technology: exec\n    local_port: ${port}\n    remote_port: 80\n    connection: ${JSON.stringify(tunnel)}\n`);
  const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30_000 });
  return { dir, env, cli };
}

/** The one JSON document a command printed (on stdout unless said), checked for its schemaVersion. */
function doc(r: CliResult, where: 'stdout' | 'stderr' = 'stdout'): Record<string, unknown> {
  let body: Record<string, unknown>;
  try {
    body = JSON.parse(r[where]) as Record<string, unknown>;
  } catch {
    throw new Error(`not one JSON document on ${where} (exit ${r.code}):\n${r[where]}\nother stream:\n${r[where === 'stdout' ? 'stderr' : 'stdout']}`);
  }
  expect(body.schemaVersion).toBe(1);
  expect(r[where]).not.toContain(SECRET);
  return body;
}

/** NDJSON: every line one JSON object (a line that is not is a failure, shown with the whole output). */
function ndjson(text: string): Record<string, unknown>[] {
  expect(text.endsWith('\n') || text === '').toBe(true);
  return text.split('\n').filter(Boolean).map((line) => {
    try {
      return JSON.parse(line) as Record<string, unknown>;
    } catch {
      throw new Error(`not NDJSON, at the line ${line}:\n${text}`);
    }
  });
}

describe('--output json on every command', () => {
  it('prints one document with schemaVersion, without a daemon, errors included', async () => {
    const { cli } = await project();
    const ok = async (...args: string[]) => {
      const r = await cli(...args, '-o', 'json');
      expect({ args, code: r.code }).toEqual({ args, code: 0 });
      return doc(r);
    };
    expect(await ok('config', 'validate')).toMatchObject({ valid: true });
    expect(await ok('config', 'print')).toMatchObject({ config: { services: [{ name: 'web' }] } });
    expect(await ok('config', 'export')).toMatchObject({ services: [{ name: 'web', local_port: expect.any(Number) }] });
    expect(await ok('status')).toMatchObject({ running: false, services: [{ name: 'web', state: 'stopped' }] });
    expect(await ok('stop')).toMatchObject({ running: false, stopped: [] });
    expect(await ok('daemon', 'status')).toMatchObject({ running: false });
    expect(await ok('daemon', 'stop')).toMatchObject({ stopped: false });
    expect(await ok('doctor')).toMatchObject({ ok: true });
    // A log is NDJSON, one object per entry: no entries, no line.
    const logs = await cli('logs', '-o', 'json');
    expect({ code: logs.code, stdout: logs.stdout }).toEqual({ code: 0, stdout: '' });
    expect(await ok('logs', '--list')).toMatchObject({ logs: [] });
    // `run` prints the status of its services once ready; with a COMMAND, on stderr.
    const run = await cli('run', '-o', 'json', '--', 'true');
    expect(run.code).toBe(0);
    expect(doc(run, 'stderr')).toMatchObject({ services: [{ name: 'web', state: 'ready' }] });
    // Errors are documents too, on stdout, with the exit code of their code.
    const reload = await cli('daemon', 'reload', '-o', 'json');
    expect({ code: reload.code, body: doc(reload) }).toEqual({ code: 1, body: { schemaVersion: 1, error: expect.objectContaining({ code: 'DAEMON_NOT_RUNNING' }) } });
    const unknown = await cli('status', 'nope', '--json');
    expect({ code: unknown.code, body: doc(unknown) }).toEqual({ code: 2, body: { schemaVersion: 1, error: expect.objectContaining({ code: 'USAGE' }) } });
    expect(unknown.stderr).toBe('');
    // A command line clipanion cannot parse is a usage error in the asked format too.
    const bad = await cli('status', '--bogus', '--json');
    expect({ code: bad.code, body: doc(bad), stderr: bad.stderr }).toEqual({ code: 2, body: { schemaVersion: 1, error: expect.objectContaining({ code: 'USAGE', message: "unknown option '--bogus' for 'localport status'" }) }, stderr: '' });
  });

  it('prints one document with schemaVersion with a daemon, and NDJSON for logs -f', async () => {
    const { cli, dir, env } = await project();
    const ok = async (...args: string[]) => {
      const r = await cli(...args, '-o', 'json');
      expect({ args, code: r.code, stderr: r.code ? r.stderr : '' }).toEqual({ args, code: 0, stderr: '' });
      return doc(r);
    };
    expect(await ok('daemon', 'start')).toMatchObject({ started: true, pid: expect.any(Number) });
    expect(await ok('start', '--all')).toMatchObject({ services: [{ name: 'web', state: 'ready' }] });
    expect(await ok('status')).toMatchObject({ running: true, services: [{ name: 'web', state: 'ready' }] });
    expect(await ok('daemon', 'status')).toMatchObject({ running: true, services: { ready: 1 } });
    expect(await ok('daemon', 'reload')).toMatchObject({ unchanged: ['web'] });
    // A service's log is NDJSON: one object per entry, with the time and the stream (its level) the
    // file has for each line, never null.
    const serviceLog = await cli('logs', 'web', '-o', 'json');
    expect(serviceLog.code).toBe(0);
    const entries = ndjson(serviceLog.stdout);
    expect(entries.length).toBeGreaterThan(1);
    for (const entry of entries) {
      expect(entry).toEqual({ schemaVersion: 1, service: 'web', file: expect.any(String), time: expect.stringMatching(/^\d{4}-\d\d-\d\dT[\d:.]+Z$/), level: expect.stringMatching(/^(stdout|stderr|localport)$/), message: expect.any(String) });
    }
    expect(entries.map((e) => e.message)).toContainEqual(expect.stringMatching(/^spawn /));
    expect(serviceLog.stdout).not.toContain(SECRET);
    expect(await ok('logs', 'web', '--path')).toMatchObject({ logs: [{ name: 'web' }] });

    // A stream: one document per line, each with its schemaVersion.
    const follow = startCli(['logs', '-f', '-n', '5', '-o', 'json'], { cwd: dir, env });
    await follow.waitFor(/\n/, 10_000);
    follow.child.kill('SIGTERM');
    const streamed = await follow.exited;
    const lines = ndjson(streamed.stdout);
    expect(lines.length).toBeGreaterThan(0);
    // One entry per line, never a batch: no `entries` array.
    for (const line of lines) expect(line).toEqual({ schemaVersion: 1, service: null, file: expect.any(String), time: expect.any(String), level: expect.any(String), message: expect.any(String) });
    // The same with a service: its lines, followed, with their time and stream.
    const followService = startCli(['logs', 'web', '-f', '-n', '3', '-o', 'json'], { cwd: dir, env });
    await followService.waitFor(/(\{.*\n){3}/s, 10_000);
    followService.child.kill('SIGTERM');
    const serviceLines = ndjson((await followService.exited).stdout);
    expect(serviceLines).toHaveLength(3);
    for (const line of serviceLines) expect(line).toMatchObject({ schemaVersion: 1, service: 'web', time: expect.stringMatching(/Z$/), level: expect.stringMatching(/^(stdout|stderr|localport)$/) });

    expect(await ok('stop', '--all')).toMatchObject({ running: true, stopped: ['web'] });
    expect(await ok('daemon', 'restart')).toMatchObject({ pid: expect.any(Number), restarted: [] });
    expect(await ok('daemon', 'stop')).toMatchObject({ stopped: true });
  }, 90_000);
});

describe('a formatter plugin', () => {
  it('renders the output of every command, errors included', async () => {
    const dir = mkdtempSync(path.join(root, 'fmt-'));
    writeFileSync(
      path.join(dir, 'localport.config.mjs'),
      `export default {
  plugins: [{ name: 'acme-kinds', apply(api) { api.registerFormatter({ type: 'kinds', render: (view) => 'kind=' + view.kind + (view.kind === 'error' ? ' code=' + view.code : '') }); } }],
  services: [{ name: 'web', technology: 'ssh', localPort: ${await freePort()}, remotePort: 80, connection: { host: 'h' } }],
};
`,
    );
    const cli = (...args: string[]) => runCli([...args, '-o', 'kinds'], { cwd: dir, env: { LOCALPORT_STATE_DIR: path.join(dir, 'state') } });
    const cases: [string[], string][] = [
      [['config', 'validate'], 'kind=validate'],
      [['config', 'export'], 'kind=export'],
      [['status'], 'kind=status'],
      [['stop'], 'kind=stop'],
      [['logs'], 'kind=logs'],
      [['logs', '--list'], 'kind=logFiles'],
      [['daemon', 'status'], 'kind=daemon'],
      [['daemon', 'stop'], 'kind=daemon'],
      [['daemon', 'reload'], 'kind=error code=DAEMON_NOT_RUNNING'],
    ];
    for (const [args, out] of cases) {
      const r = await cli(...args);
      expect({ args, out: r.stdout, stderr: r.stderr }).toEqual({ args, out: `${out}\n`, stderr: '' });
    }
  });
});

describe('a formatter plugin with a bug', () => {
  it('is reported in the default format on stderr, naming the plugin, with its stack and whom to report it to', async () => {
    const dir = mkdtempSync(path.join(root, 'badfmt-'));
    writeFileSync(
      path.join(dir, 'localport.config.mjs'),
      `export default {
  plugins: [{ name: 'acme-fmt', apply(api) {
    api.registerFormatter({ type: 'throws', render: (view) => view.nothing.x });
    api.registerFormatter({ type: 'empty', render: () => undefined });
  } }],
  services: [{ name: 'web', technology: 'ssh', localPort: ${await freePort()}, remotePort: 80, connection: { host: 'h' } }],
};
`,
    );
    const cli = (...args: string[]) => runCli(args, { cwd: dir, env: { LOCALPORT_STATE_DIR: path.join(dir, 'state') } });
    const thrown = await cli('status', '-o', 'throws');
    expect(thrown.code).toBe(1);
    expect(thrown.stdout).toBe('');
    expect(thrown.stderr).toMatch(/^error: .*acme-fmt/);
    expect(thrown.stderr).toMatch(/TypeError: Cannot read properties of undefined[^\n]*\n\s+at /);
    expect(thrown.stderr).toContain("Please report it to the plugin's author (acme-fmt)");
    const empty = await cli('status', '-o', 'empty');
    expect(empty.code).not.toBe(0);
    expect(empty.stdout).toBe('');
    expect(empty.stderr).toMatch(/^error: .*acme-fmt/);
    expect(empty.stderr).toContain('acme-fmt');
  });
});

describe('errors raised in a plugin', () => {
  async function pluginProject(body: string) {
    const dir = mkdtempSync(path.join(root, 'pl-'));
    writeFileSync(
      path.join(dir, 'localport.config.mjs'),
      `import { ConfigError } from 'localport';
export default {
  plugins: [{ name: 'acme-checker', apply(api) { api.hooks.configResolved.tap('acme-checker', (config) => { ${body} }); } }],
  services: [{ name: 'web', technology: 'ssh', localPort: ${await freePort()}, remotePort: 80, connection: { host: 'h' } }],
};
`,
    );
    return (...args: string[]) => runCli(args, { cwd: dir, env: { LOCALPORT_STATE_DIR: path.join(dir, 'state') } });
  }

  it("prints a plugin's bug with its stack, the plugin's name and whom to report it to", async () => {
    const cli = await pluginProject('return config.nothing.services;');
    const r = await cli('config', 'validate');
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error: plugin acme-checker failed in configResolved: Cannot read properties of undefined (reading 'services')");
    expect(r.stderr).toMatch(/TypeError: Cannot read properties of undefined[^\n]*\n\s+at .*localport\.config\.mjs:\d+:\d+/);
    expect(r.stderr).toContain("Please report it to the plugin's author (acme-checker)");
    const json = await cli('config', 'validate', '--json');
    expect({ code: json.code, body: doc(json) }).toEqual({
      code: 1,
      body: { schemaVersion: 1, error: expect.objectContaining({ code: 'PLUGIN_FAILED', stack: expect.stringContaining('TypeError'), reportTo: { plugin: 'acme-checker' } }) },
    });
  });

  it("prints a bug in a technology's createForward under run with its stack and whom to report it to", async () => {
    const dir = mkdtempSync(path.join(root, 'tech-'));
    writeFileSync(
      path.join(dir, 'localport.config.mjs'),
      `import { z } from 'localport';
export default {
  plugins: [{ name: 'acme-tech', apply(api) { api.registerTechnology({ type: 'acme', connectionSchema: z.object({}), describeTarget: () => 'far', createForward: (s) => s.nothing.command }); } }],
  services: [{ name: 'web', technology: 'acme', localPort: ${await freePort()}, remotePort: 80, connection: {} }],
};
`,
    );
    const r = await runCli(['run', '--', 'true'], { cwd: dir, env: { LOCALPORT_STATE_DIR: path.join(dir, 'state') } });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("error: plugin acme-tech failed in technology 'acme' createForward(): Cannot read properties of undefined (reading 'command')");
    expect(r.stderr).toMatch(/TypeError: Cannot read properties of undefined[^\n]*\n\s+at .*localport\.config\.mjs:\d+:\d+/);
    expect(r.stderr).toContain("Please report it to the plugin's author (acme-tech)");
    expect(r.stderr).toContain('1 of 1 service could not start (web)');
    // The same failure under -o json: one document that keeps the service, the stack and whom to report it to.
    const json = await runCli(['run', '-o', 'json', '--', 'true'], { cwd: dir, env: { LOCALPORT_STATE_DIR: path.join(dir, 'state') } });
    expect({ code: json.code, body: doc(json) }).toEqual({
      code: 1,
      body: { schemaVersion: 1, error: expect.objectContaining({ code: 'PLUGIN_FAILED', service: 'web', stack: expect.stringContaining('TypeError'), reportTo: { plugin: 'acme-tech' } }) },
    });
  });

  it("writes a plugin's bug in a service started by the daemon to the daemon's log with its stack and whom to report it to", async () => {
    const dir = mkdtempSync(path.join(root, 'dbug-'));
    const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state') };
    started.push({ dir, env });
    const tunnel = { command: process.execPath, args: [FAKE_TUNNEL, '{localPort}', 'x'], readyPattern: 'LISTENING' };
    writeFileSync(
      path.join(dir, 'localport.config.mjs'),
      `export default {
  plugins: [{ name: 'acme-bug', apply(api) { api.hooks.beforeStart.tap('acme-bug', (service) => service.nothing.x); } }],
  services: [{ name: 'web', technology: 'exec', localPort: ${await freePort()}, remotePort: 80, connection: ${JSON.stringify(tunnel)} }],
};
`,
    );
    const r = await runCli(['start', '--all'], { cwd: dir, env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('1 of 1 service did not start: web');
    expect(r.stderr).toContain('localport logs');
    const log = await runCli(['logs'], { cwd: dir, env });
    expect(log.stdout).toMatch(/TypeError: Cannot read properties of undefined[^\n]*\n\s+at /);
    expect(log.stdout).toContain("Please report it to the plugin's author (acme-bug)");
  });

  it('prints a plugin that rejects the config as one line, without a stack', async () => {
    const cli = await pluginProject("throw new ConfigError([{ path: 'services[0] (web).tags', message: 'acme requires a team tag' }], 'Add tags: [team-x].');");
    const r = await cli('config', 'validate');
    expect({ code: r.code, stderr: r.stderr }).toEqual({
      code: 2,
      stderr: 'error: plugin acme-checker failed in configResolved: services[0] (web).tags: acme requires a team tag\nhint: Add tags: [team-x].\n',
    });
  });
});
