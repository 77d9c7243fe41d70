import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from '@jest/globals';
import { hasStack, runCli, type CliResult } from '../helpers/cli.js';
import { aliasBombYaml } from '../helpers/config-bombs.js';
import { freePort } from '../helpers/net.js';

// The built CLI against configs whose code misbehaves: it never finishes, holds a timer, calls
// process.exit, throws what is not an Error, throws later from a timer. LOCALPORT_CONFIG_TIMEOUT=1
// keeps the time-outs short; every run is bounded (a hang is killed and fails its test).

const FAKE_TUNNEL = fileURLToPath(new URL('../fixtures/fake-tunnel.mjs', import.meta.url));
const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-code-'));
const env = { LOCALPORT_STATE_DIR: path.join(root, 'state'), LOCALPORT_CONFIG_TIMEOUT: '1' };
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
/** A project directory holding `files`; returns its directory and the path of its first file. */
function project(files: Record<string, string>): { dir: string; file: string } {
  const dir = path.join(root, `p${n++}`);
  for (const [name, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, name)), { recursive: true });
    writeFileSync(path.join(dir, name), text);
  }
  return { dir, file: path.join(dir, Object.keys(files)[0]) };
}

async function cli(dir: string, args: string[], timeoutMs = 10_000): Promise<CliResult & { ms: number }> {
  const t0 = Date.now();
  const r = await runCli(args, { cwd: dir, env, timeoutMs });
  return { ...r, ms: Date.now() - t0 };
}

const SERVICES = `services: { web: { technology: 'ssh', local_port: 41999, remote_port: 80, connection: { host: 'bastion' } } }`;

/** Exit 2, one `error:` line naming the file with `message`, no stack, nothing reported valid. */
function expectConfigError(r: CliResult, line: string): void {
  expect(r.code).toBe(2);
  expect(r.stderr.split('\n')[0]).toBe(`error: ${line}`);
  expect(hasStack(r.stdout + r.stderr)).toBe(false);
  expect(r.stdout).not.toContain('valid');
}

describe('a config or preset that never finishes loading', () => {
  const never = 'export default new Promise(() => {});\n';
  // Mostly waiting for the time-out: these run side by side.
  const message = 'did not finish loading within 1 s (a default export, factory or top-level await that never resolves?)';

  it.concurrent.each([
    ['config validate', ['config', 'validate']],
    ['run', ['run', '--', 'true']],
    ['daemon start', ['daemon', 'start']],
  ])('%s exits 2 naming the file (not 13 with no message)', async (_name, args) => {
    const { dir, file } = project({ 'localport.config.ts': never });
    const r = await cli(dir, args);
    expectConfigError(r, `${file}: ${message}`);
    expect(r.ms).toBeLessThan(6000);
  });

  it.concurrent('times out, and exits, when the config also holds a timer', async () => {
    const { dir, file } = project({ 'localport.config.ts': `setInterval(() => {}, 1000);\n${never}` });
    const r = await cli(dir, ['config', 'validate']);
    expectConfigError(r, `${file}: ${message}`);
    expect(r.ms).toBeLessThan(6000);
  });

  it.concurrent('exits once the command is done even though the config left a timer running', async () => {
    const { dir, file } = project({ 'localport.config.ts': `setInterval(() => {}, 1000);\nexport default { ${SERVICES} };\n` });
    const r = await cli(dir, ['config', 'validate']);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${file}: valid, 1 service`);
    expect(r.ms).toBeLessThan(6000);
  });

  it.concurrent.each([
    ['apply()', `{ name: 'hanger', apply() { return new Promise(() => {}); } }`, 'applying its plugins'],
    ['a configResolved tap', `{ name: 'hanger', apply(api: any) { api.hooks.configResolved.tapPromise('hanger', () => new Promise(() => {})); } }`, 'a configResolved tap'],
  ])('times out a plugin that never finishes %s', async (_what, plugin, stage) => {
    const { dir, file } = project({ 'localport.config.ts': `export default { ${SERVICES}, plugins: [${plugin}] };\n` });
    const r = await cli(dir, ['config', 'validate']);
    expectConfigError(r, `${file}: ${stage} did not finish within 1 s`);
  });

  it.concurrent('names a preset whose default export function never resolves, and the config that extends it', async () => {
    const { dir, file } = project({ 'localport.yaml': 'extends: ./presets/slow.mjs\nservices: []\n', 'presets/slow.mjs': 'export default () => new Promise(() => {});\n' });
    const r = await cli(dir, ['config', 'validate']);
    expectConfigError(r, `${file}: extends: preset './presets/slow.mjs': ${path.join(dir, 'presets', 'slow.mjs')} ${message}`);
  });
});

describe('process.exit called while config code loads', () => {
  it.each([
    ['at the top of the config', 'process.exit(0);\nexport default {};\n', '0'],
    ['in the config function', `export default () => { process.exit(); return { ${SERVICES} }; };\n`, ''],
    ['and caught by the config itself', `try { process.exit(0); } catch {}\nexport default { ${SERVICES} };\n`, '0'],
    ["in an inline plugin's apply()", `export default { ${SERVICES}, plugins: [{ name: 'quitter', apply() { process.exit(0); } }] };\n`, '0'],
    ['in a configResolved tap', `export default { ${SERVICES}, plugins: [{ name: 'q', apply(api: any) { api.hooks.configResolved.tap('q', () => process.exit(5)); } }] };\n`, '5'],
  ])('%s is an error naming the file, never a silent success', async (_where, code, arg) => {
    const { dir, file } = project({ 'localport.config.ts': code });
    const r = await cli(dir, ['config', 'validate']);
    expectConfigError(r, `${file}: called process.exit(${arg}) while it was loading`);
  });

  it('in a helper the config imports is charged to the config', async () => {
    const { dir, file } = project({ 'localport.config.ts': `import './helper.ts';\nexport default { ${SERVICES} };\n`, 'helper.ts': 'process.exit(4);\nexport {};\n' });
    const r = await cli(dir, ['config', 'validate']);
    expectConfigError(r, `${file}: called process.exit(4) while it was loading`);
  });

  it('names a plugin whose factory calls process.exit', async () => {
    const { dir, file } = project({ 'localport.config.ts': `export default { ${SERVICES}, plugins: ['./exit-plugin.mjs'] };\n`, 'exit-plugin.mjs': 'export default function () { process.exit(3); }\n' });
    const r = await cli(dir, ['config', 'validate']);
    expectConfigError(r, `${file}: plugins: plugin './exit-plugin.mjs': ${path.join(dir, 'exit-plugin.mjs')} called process.exit(3) while it was loading`);
  });
});

describe('what config code throws', () => {
  it.each([
    ['a getter that throws', "export default { get services() { throw new Error('boom from getter'); } };\n", 'services: reading this key threw: boom from getter'],
    ['a string', "throw 'just a string';\n", "could not load config: it threw 'just a string', not an Error"],
    ['an empty object', 'throw {};\n', 'could not load config: it threw {}, not an Error'],
    ['undefined, from the config function', 'export default () => { throw undefined; };\n', 'could not load config: it threw undefined, not an Error'],
  ])('%s: one line naming the file, exit 2, no stack', async (_what, code, message) => {
    const { dir, file } = project({ 'localport.config.ts': code });
    const r = await cli(dir, ['config', 'validate']);
    expectConfigError(r, `${file}: ${message}`);
    expect(r.stderr.trim().split('\n')).toHaveLength(1);
  });

  it('a preset that throws a string names the preset', async () => {
    const { dir, file } = project({ 'localport.yaml': 'extends: ./p.mjs\nservices: []\n', 'p.mjs': "throw 'preset string';\n" });
    const r = await cli(dir, ['config', 'validate']);
    expectConfigError(r, `${file}: extends: preset './p.mjs': failed to load ${path.join(dir, 'p.mjs')}: it threw 'preset string', not an Error`);
  });

  it('a configResolved tap that returns something that is not a config names the plugin', async () => {
    const { dir } = project({
      'localport.config.ts': `export default { ${SERVICES}, plugins: [{ name: 'junk-plugin', apply(api: any) { api.hooks.configResolved.tap('junk-plugin', () => 'junk'); } }] };\n`,
    });
    const r = await cli(dir, ['config', 'validate']);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("error: plugin junk-plugin failed in configResolved: it returned 'junk' instead of the config; return the config it was given (changed or not)\n");
  });
});

describe('an exception thrown later, from a plugin timer', () => {
  it('config validate: one line naming the plugin file, and the process carries on', async () => {
    const plugin = `export default function timerPlugin() {
  return { name: 'timer-plugin', apply(api) {
    setTimeout(() => { throw new Error('timer went off'); }, 10);
    // Keeps the load going until the timer has fired.
    api.hooks.configResolved.tapPromise('timer-plugin', (c) => new Promise((r) => setTimeout(() => r(c), 200)));
  } };
}
`;
    const { dir, file } = project({ 'localport.config.ts': `export default { ${SERVICES}, plugins: ['./timer-plugin.mjs'] };\n`, 'timer-plugin.mjs': plugin });
    const r = await cli(dir, ['config', 'validate']);
    expect(r.stderr).toBe(`error: uncaught exception in plugin './timer-plugin.mjs' (${path.join(dir, 'timer-plugin.mjs')}): timer went off (LocalPort carries on)\n`);
    expect(r.stdout).toContain(`${file}: valid, 1 service`);
    expect(r.code).toBe(0);
  });

  it('a plugin the config imports from outside its folder is the config\'s code too, not LocalPort\'s bug', async () => {
    const plugin = `export const timerPlugin = { name: 'shared-timer', apply(api) {
  setTimeout(() => { throw new Error('shared timer went off'); }, 10);
  api.hooks.configResolved.tapPromise('shared-timer', (c) => new Promise((r) => setTimeout(() => r(c), 200)));
} };
`;
    const { dir } = project({ 'app/localport.config.mjs': `import { timerPlugin } from '../shared/plugin.mjs';\nexport default { ${SERVICES}, plugins: [timerPlugin] };\n`, 'shared/plugin.mjs': plugin });
    const r = await cli(path.join(dir, 'app'), ['config', 'validate']);
    expect(r.stderr).toBe(`error: uncaught exception in code the config imports (${path.join(dir, 'shared', 'plugin.mjs')}): shared timer went off (LocalPort carries on)\n`);
    expect(r.code).toBe(0);
  });

  it('run: the tunnels and the command keep going, and run exits with the command code', async () => {
    const port = await freePort();
    const { dir, file } = project({
      'localport.config.ts': `export default {
  services: { web: { technology: 'exec', local_port: ${port}, remote_port: 80, connection: { command: process.execPath, args: [${JSON.stringify(FAKE_TUNNEL)}, '{localPort}', 'ok'], ready_pattern: 'LISTENING' } } },
  plugins: [{ name: 'late-timer', apply(api: any) {
    api.hooks.afterStart.tapPromise('late-timer', async () => { setTimeout(() => { throw new Error('late boom'); }, 50); });
  } }],
};
`,
    });
    const r = await cli(dir, ['run', '--', process.execPath, '-e', `setTimeout(() => require('net').connect(${port}, '127.0.0.1').on('data', (d) => { console.log('got ' + d); process.exit(7); }), 400)`], 20_000);
    expect(r.stderr).toContain(`error: uncaught exception in config ${file}: late boom (LocalPort carries on)`);
    expect(r.stdout).toContain('got pong');
    expect(r.code).toBe(7);
    expect(hasStack(r.stderr)).toBe(false);
  });
});

describe('process.exit called later, from a timer of the config', () => {
  it('run: is refused and reported as the config\'s, and the tunnels and the command keep going', async () => {
    const port = await freePort();
    const { dir, file } = project({
      'localport.config.ts': `setTimeout(() => process.exit(5), 100);
export default { services: { web: { technology: 'exec', local_port: ${port}, remote_port: 80, connection: { command: process.execPath, args: [${JSON.stringify(FAKE_TUNNEL)}, '{localPort}', 'ok'], ready_pattern: 'LISTENING' } } } };
`,
    });
    // The command outlives the timer, then proves the tunnel is still there.
    const r = await cli(dir, ['run', '--', process.execPath, '-e', `setTimeout(() => require('net').connect(${port}, '127.0.0.1').on('data', (d) => { console.log('got ' + d); process.exit(7); }), 800)`], 20_000);
    expect(r.stderr).toContain(`error: uncaught exception in config ${file}: called process.exit(5); ignored: LocalPort keeps its tunnels up (LocalPort carries on)`);
    expect(r.stdout).toContain('got pong');
    expect(r.code).toBe(7);
    expect(hasStack(r.stderr)).toBe(false);
  });
});

describe('alias bombs and self-references', () => {
  it('config validate rejects 9 levels of 9 aliases fast with a clear message', async () => {
    const { dir, file } = project({ 'localport.yaml': aliasBombYaml() });
    const r = await cli(dir, ['config', 'validate']);
    expectConfigError(r, `${file}: services: the config expands to more than 100000 values (YAML anchors/aliases that nest?); write it out without nested aliases`);
    // The check itself takes milliseconds (test/unit/config/guards.test.ts); this is the CLI's start-up on a busy machine.
    expect(r.ms).toBeLessThan(2500);
  });

  it.each([
    ['run', ['run', '--', 'true']],
    ['daemon start', ['daemon', 'start']],
  ])('%s rejects it too', async (_name, args) => {
    const { dir, file } = project({ 'localport.yaml': aliasBombYaml() });
    const r = await cli(dir, args);
    expectConfigError(r, `${file}: services: the config expands to more than 100000 values (YAML anchors/aliases that nest?); write it out without nested aliases`);
    expect(r.ms).toBeLessThan(2500);
  });

  it('a TypeScript config that contains itself is a clear error, not a RangeError', async () => {
    const { dir, file } = project({
      'localport.config.ts': `const c: any = { ${SERVICES} };\nc.services.web.self = c;\nexport default c;\n`,
    });
    const r = await cli(dir, ['config', 'validate']);
    expectConfigError(r, `${file}: services.web.self: the config refers to itself here (an object that contains itself); a config must be a tree`);
  });
});
