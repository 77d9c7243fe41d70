import { mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { stopProjects, type TestProject } from '../helpers/daemons.js';
import { FAKE_TUNNEL } from '../helpers/fake-tech.js';
import { freePort } from '../helpers/net.js';
import { waitUntil } from '../helpers/procs.js';

// The CLI's one config pipeline, end to end: a config that extends a local preset (whose service is
// used) and names a plugin whose configResolved tap adds a service, under `run`, under the daemon
// (`start`), and after a hot reload of the preset file.

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-pipeline-'));
const projects: TestProject[] = [];
afterEach(() => stopProjects(projects));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Adds `added` (a copy of `local` on `port`); its remote port counts the services the config had, so each resolution shows. */
const ADDER = `export default (o) => ({
  name: 'test:adder',
  options: o,
  apply(api) {
    api.hooks.configResolved.tap('test:adder', (c) => {
      const base = c.services.find((s) => s.name === 'local');
      return { ...c, services: [...c.services, { ...base, name: 'added', localPort: o.port, remotePort: c.services.length }] };
    });
  },
});
`;

/**
 * A fake tunnel. In the preset, its mode comes from a snake_case `vars` entry: exec declares `vars` free-form,
 * so merging the preset keeps the name its `{placeholder}` uses.
 */
const service = (name: string, port: number, dir: string, inPreset = false) => `  - name: ${name}
    technology: exec
    local_port: ${port}
    remote_port: 1
    health_check: { type: tcp, interval: 0.5 }
    connection: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FAKE_TUNNEL)}, '{localPort}', ${inPreset ? "'{tunnel_mode}'" : 'ok'}, '0', '${dir}/no-flag']${inPreset ? ', vars: { tunnel_mode: ok }' : ''} }
`;

async function project() {
  const dir = mkdtempSync(path.join(root, 'p-'));
  const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state') };
  projects.push({ dir, env });
  const ports = { shared: await freePort(), shared2: await freePort(), local: await freePort(), added: await freePort() };
  const preset = path.join(dir, 'team.yaml');
  // Written as editors save (a new file renamed over the old), so a reload never reads half a file.
  const writePreset = (withSecond: boolean) => {
    writeFileSync(`${preset}.tmp`, `name: team\nservices:\n${service('shared', ports.shared, dir, true)}${withSecond ? service('shared2', ports.shared2, dir, true) : ''}`);
    renameSync(`${preset}.tmp`, preset);
  };
  writePreset(false);
  writeFileSync(path.join(dir, 'adder.mjs'), ADDER);
  writeFileSync(path.join(dir, 'localport.yaml'), `extends: ./team.yaml\nplugins:\n  - ['./adder.mjs', { port: ${ports.added} }]\nservices:\n${service('local', ports.local, dir)}`);
  const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });
  return { dir, ports, writePreset, cli };
}

interface Status {
  services: { name: string; state: string; localPort: number; remotePort: number }[];
}

/** What the forward on `port` answers (the fake tunnel says pong). */
function answer(port: number): Promise<string> {
  return new Promise((resolve) => {
    let data = '';
    const s = net.connect(port, '127.0.0.1');
    s.setEncoding('utf8').on('data', (c: string) => (data += c));
    s.on('close', () => resolve(data));
    s.on('error', () => resolve(''));
  });
}

describe('extends and configResolved through the CLI', () => {
  it('run: the preset service, the local one and the one a configResolved tap adds are all forwarded', async () => {
    const p = await project();
    const script = `const net = require('net');
const ask = (name) => new Promise((r) => { let d = ''; net.connect(Number(process.env['LOCALPORT_' + name + '_PORT']), '127.0.0.1').setEncoding('utf8').on('data', (c) => (d += c)).on('close', () => r(name + '=' + d)).on('error', () => r(name + '=')); });
Promise.all(['SHARED', 'LOCAL', 'ADDED'].map(ask)).then((a) => console.log(a.join(' ') + ' added_port=' + process.env.LOCALPORT_ADDED_PORT));`;
    const r = await p.cli('run', '--', process.execPath, '-e', script);
    expect([r.code, r.stderr]).toEqual([0, expect.stringMatching(/added\s+exec\s+ready/)]);
    expect(r.stdout).toContain(`SHARED=pong LOCAL=pong ADDED=pong added_port=${p.ports.added}`);
  }, 40000);

  it('start, then a hot reload of the preset file: the tap runs again on the new config', async () => {
    const p = await project();
    expect((await p.cli('start', '--all')).code).toBe(0);
    const status = async (): Promise<Status> => {
      const r = await p.cli('status', '-o', 'json');
      expect(r.code).toBe(0);
      return JSON.parse(r.stdout) as Status;
    };
    const seen = async () => (await status()).services.map((s) => [s.name, s.state, s.remotePort]);
    await waitUntil(async () => (await seen()).every(([, state]) => state === 'ready'), 10000, 'every service ready');
    expect(await seen()).toEqual(expect.arrayContaining([['shared', 'ready', 1], ['local', 'ready', 1], ['added', 'ready', 2]]));
    expect((await status()).services).toHaveLength(3);
    expect(await answer(p.ports.added)).toBe('pong');

    p.writePreset(true); // the daemon watches the preset files too
    await waitUntil(
      async () => {
        const now = await seen();
        return now.length === 4 && now.every(([, state]) => state === 'ready') && now.some(([name, , remote]) => name === 'added' && remote === 3);
      },
      15000,
      'shared2 from the preset, and added with remote port 3, ready after the reload',
    );
    expect(await seen()).toEqual(expect.arrayContaining([['shared', 'ready', 1], ['shared2', 'ready', 1], ['local', 'ready', 1], ['added', 'ready', 3]]));
    expect(await answer(p.ports.shared2)).toBe('pong');
    expect(await answer(p.ports.added)).toBe('pong');
  }, 60000);
});
