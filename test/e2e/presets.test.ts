import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { hasStack, runCli } from '../helpers/cli.js';
import { freePort, httpGet, startHttpServer, type HttpPeer } from '../helpers/net.js';

// Presets and plugins as a team ships them: real packages made with `npm pack`, installed from the
// tarballs into a consumer project. The custom technology wraps test/fixtures/relay.cjs, a real TCP
// relay process, and real bytes flow from a real HTTP server through it.

const RELAY = fileURLToPath(new URL('../fixtures/relay.cjs', import.meta.url));
const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-presets-'));
const env = { LOCALPORT_STATE_DIR: path.join(root, 'state') };
let web: HttpPeer;
let api: HttpPeer;
let consumer: string;
const ports: Record<string, number> = {};

function write(file: string, text: string) {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
}

beforeAll(async () => {
  [web, api] = await Promise.all([startHttpServer('from the preset service'), startHttpServer('from the local service')]);
  ports.web = await freePort();
  ports.api = await freePort();

  // A plugin package, CommonJS, that adds the `relay` technology. It imports LocalPort's API from
  // 'localport' (a peer dependency; LocalPort provides itself to the plugins it loads).
  const plugin = path.join(root, 'plugin');
  write(path.join(plugin, 'package.json'), JSON.stringify({ name: 'localport-plugin-relay', version: '1.0.0', main: 'index.cjs', peerDependencies: { localport: '*' } }));
  copyFileSync(RELAY, path.join(plugin, 'relay.cjs'));
  write(
    path.join(plugin, 'index.cjs'),
    `const path = require('node:path');
const { definePlugin, configObject, hostname } = require('localport');
module.exports = (opts = {}) => definePlugin({
  name: 'acme:relay',
  options: opts,
  apply(api) {
    api.registerTechnology({
      type: 'relay',
      connectionSchema: configObject({ host: hostname() }),
      describeTarget: (s) => 'relay → ' + s.connection.host + ':' + s.remotePort,
      createForward: (s, ctx) => ({
        command: opts.node || process.execPath,
        args: [path.join(__dirname, 'relay.cjs'), String(ctx.listen.port), s.connection.host, String(s.remotePort)],
        ready: { output: /^relay listening/ },
      }),
    });
  },
});
`,
  );

  // A preset package, ESM, with a service that uses the plugin's technology and the plugin itself.
  const preset = path.join(root, 'preset');
  write(path.join(preset, 'package.json'), JSON.stringify({ name: '@acme/localport-preset', version: '1.0.0', type: 'module', exports: './index.js' }));
  write(
    path.join(preset, 'index.js'),
    `export default {
  name: '@acme/localport-preset',
  defaults: { restartPolicy: { initialDelay: 0.1 } },
  plugins: [['localport-plugin-relay', { node: ${JSON.stringify(process.execPath)} }]],
  services: {
    web: { technology: 'relay', localPort: ${ports.web}, remotePort: ${web.port}, connection: { host: '127.0.0.1' }, tags: ['shared'] },
    legacy: { technology: 'relay', localPort: ${ports.web + 1}, remotePort: 1, connection: { host: '127.0.0.1' } },
  },
};
`,
  );

  consumer = path.join(root, 'consumer');
  write(path.join(consumer, 'package.json'), JSON.stringify({ name: 'consumer', private: true }));
  for (const pkg of [plugin, preset]) execFileSync('npm', ['pack', '--silent', '--pack-destination', root], { cwd: pkg, stdio: 'ignore' });
  const tarballs = readdirSync(root).filter((f) => f.endsWith('.tgz')).map((f) => path.join(root, f));
  expect(tarballs).toHaveLength(2);
  execFileSync('npm', ['install', '--no-audit', '--no-fund', '--ignore-scripts', '--legacy-peer-deps', ...tarballs], { cwd: consumer, stdio: 'ignore' });

  write(
    path.join(consumer, 'localport.config.ts'),
    `import { defineConfig } from 'localport';
export default defineConfig({
  extends: ['@acme/localport-preset'],
  services: {
    api: { technology: 'relay', localPort: ${ports.api}, remotePort: ${api.port}, connection: { host: '127.0.0.1' } },
    legacy: { enabled: false },
  },
});
`,
  );
}, 60000);

afterAll(async () => {
  await Promise.all([web?.close(), api?.close()]);
  rmSync(root, { recursive: true, force: true });
});

describe('a consumer project extending an npm preset and using an npm plugin', () => {
  it('forwards real bytes through the custom technology, from the preset service and the local one', async () => {
    const script = 'Promise.all(["WEB","API"].map(n => fetch(`http://127.0.0.1:${process.env["LOCALPORT_"+n+"_PORT"]}/`).then(r => r.text()))).then(b => console.log(b.join(" | ")))';
    const r = await runCli(['run', '--', process.execPath, '-e', script], { cwd: consumer, env });
    expect(r.stderr).not.toMatch(/legacy/);
    expect(r.stdout).toBe('from the preset service | from the local service\n');
    expect(r.code).toBe(0);
  });

  it('shows where each service came from', async () => {
    const r = await runCli(['config', 'print', '--json'], { cwd: consumer, env });
    expect(r.code).toBe(0);
    const services = JSON.parse(r.stdout).config.services as { name: string; source: string; enabled: boolean }[];
    expect(services.map((s) => [s.name, s.source, s.enabled])).toEqual([
      ['web', '@acme/localport-preset', true],
      ['legacy', '@acme/localport-preset + local', false],
      ['api', 'local', true],
    ]);
    const table = await runCli(['config', 'print'], { cwd: consumer, env });
    expect(table.stdout).toContain('source: \'@acme/localport-preset + local\'');
  });
});

describe('preset errors', () => {
  const cases: [string, Record<string, string>, string, RegExp][] = [
    ['not found', {}, 'PRESET_NOT_FOUND', /preset '@acme\/missing': package not found/],
    ['no entry point', { 'node_modules/@acme/unbuilt/package.json': '{"name":"@acme/unbuilt","main":"dist/index.js"}' }, 'PRESET_NO_ENTRY', /preset '@acme\/unbuilt': the package has no entry point/],
    ['invalid shape', { 'node_modules/@acme/odd/package.json': '{"name":"@acme/odd"}', 'node_modules/@acme/odd/index.js': 'module.exports = { servics: [] }' }, 'PRESET_INVALID', /preset '@acme\/odd': unknown key 'servics'/],
    [
      'missing dependency',
      { 'node_modules/@acme/needy/package.json': '{"name":"@acme/needy"}', 'node_modules/@acme/needy/index.js': 'require("@acme/helpers"); module.exports = {}' },
      'PRESET_MISSING_DEPENDENCY',
      /preset '@acme\/needy': it needs '@acme\/helpers', which is not installed/,
    ],
  ];
  it.each(cases)('%s: its own message, naming the preset and the config, exit 2', async (_label, files, code, message) => {
    const dir = mkdtempSync(path.join(root, 'err-'));
    for (const [f, t] of Object.entries(files)) write(path.join(dir, f), t);
    const name = /'(@acme\/[a-z]+)'/.exec(message.source.replace(/\\/g, ''))![1];
    const file = path.join(dir, 'localport.yaml');
    write(file, `extends: ["${name}"]\nservices: []\n`);
    const r = await runCli(['config', 'validate'], { cwd: dir, env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(message);
    expect(r.stderr).toContain(`${file}: extends: `);
    expect(hasStack(r.stderr)).toBe(false);
    const json = await runCli(['config', 'validate', '--json'], { cwd: dir, env });
    expect(JSON.parse(json.stdout).error.code).toBe(code);
  });
});

describe('a plugin that throws', () => {
  it('is reported as "plugin <name> failed in beforeStart", and the other services still start', async () => {
    const dir = mkdtempSync(path.join(root, 'throw-'));
    const [a, b] = [await freePort(), await freePort()];
    write(
      path.join(dir, 'localport.config.ts'),
      `import { defineConfig, definePlugin } from 'localport';
const guard = definePlugin({
  name: 'acme:guard',
  apply(api) {
    api.hooks.beforeStart.tapPromise('acme:guard', async (service) => {
      if (service.name === 'b') throw new Error('no change ticket for b');
    });
  },
});
const relay = (port: number, remote: number) => ({
  technology: 'exec' as const,
  localPort: port,
  remotePort: remote,
  connection: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(RELAY)}, '{localPort}', '127.0.0.1', '{remotePort}'], readyPattern: '^relay listening' },
});
export default defineConfig({ plugins: [guard], services: { a: relay(${a}, ${web.port}), b: relay(${b}, ${web.port}) } });
`,
    );
    // `run` fails fast, naming the plugin and the hook.
    const r = await runCli(['run', '--', 'true'], { cwd: dir, env });
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('service b: plugin acme:guard failed in beforeStart: no change ticket for b');
    expect(hasStack(r.stderr)).toBe(false);
    // The daemon starts everything it can: a is up, b failed with the plugin's error.
    const daemonEnv = { ...env, LOCALPORT_STATE_DIR: path.join(dir, 'state') };
    try {
      const start = await runCli(['start', '--all'], { cwd: dir, env: daemonEnv });
      expect(start.code).toBe(1);
      expect(start.stderr).toContain('plugin acme:guard failed in beforeStart: no change ticket for b');
      const st = JSON.parse((await runCli(['status', '--json'], { cwd: dir, env: daemonEnv })).stdout) as { services: { name: string; state: string; lastError: string | null }[] };
      expect(st.services.map((s) => [s.name, s.state])).toEqual([
        ['a', 'ready'],
        ['b', 'failed'],
      ]);
      expect(await httpGet(a)).toBe('from the preset service');
    } finally {
      await runCli(['daemon', 'stop'], { cwd: dir, env: daemonEnv });
    }
  });
});
