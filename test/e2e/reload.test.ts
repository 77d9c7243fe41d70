import { existsSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, expect, it } from '@jest/globals';
import { stopProjects } from '../helpers/daemons.js';
import { runCli } from '../helpers/cli.js';
import { FAKE_TUNNEL } from '../helpers/fake-tech.js';
import { freePort } from '../helpers/net.js';
import { alive, processes, waitUntil } from '../helpers/procs.js';

// Hot reload while a tunnel is still dying. The tunnel is a real process that ignores SIGTERM, so
// stopping it takes the whole grace period (2 s) until SIGKILL: a service removed and added back
// in that window must end up running its new definition, whatever order the reloads come in.

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-reload-'));
let dirs: { dir: string; env: NodeJS.ProcessEnv }[] = [];
// Whatever a test left running: its daemon, then anything of its directory, by PID.
afterEach(() => stopProjects(dirs));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** Listens on argv[1] and ignores SIGTERM, as a tunnel busy closing its connections would. A prober that resets is no error. */
const STUBBORN = `process.on('SIGTERM', () => console.log('ignoring SIGTERM'));
require('net').createServer((s) => s.on('error', () => {}).end('pong')).listen(Number(process.argv[1]), '127.0.0.1', () => console.log('LISTENING'));`;

interface Status {
  runner: { pid: number } | null;
  services: { name: string; state: string; pid: number | null; remotePort: number }[];
}

async function project() {
  const dir = mkdtempSync(path.join(root, 'p-'));
  const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state') };
  dirs.push({ dir, env });
  const [calmPort, stubbornPort, latePort] = [await freePort(), await freePort(), await freePort()];
  const calm = `  - name: calm
    technology: exec
    local_port: ${calmPort}
    remote_port: 1
    health_check: { type: tcp, interval: 0.5 }
    connection: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FAKE_TUNNEL)}, '{localPort}', ok, '0', '${dir}/no-flag'] }
`;
  // The remote port is what tells one definition of `stubborn` from the next.
  const stubborn = (remote: number) => `  - name: stubborn
    technology: exec
    local_port: ${stubbornPort}
    remote_port: ${remote}
    health_check: { type: tcp, interval: 0.5 }
    connection: { command: ${JSON.stringify(process.execPath)}, args: ['-e', ${JSON.stringify(STUBBORN)}, '{localPort}', '${dir}'] }
`;
  // Switched off until a reload switches it on.
  const late = (enabled: boolean) => `  - name: late
    technology: exec
    enabled: ${enabled}
    local_port: ${latePort}
    remote_port: 1
    connection: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FAKE_TUNNEL)}, '{localPort}', ok, '0', '${dir}/no-flag'] }
`;
  const file = path.join(dir, 'localport.yaml');
  // Written as editors save (a new file renamed over the old): a reload request must never catch the
  // file truncated and half-written, which would be a refused reload (exit 2), not what is tested here.
  const write = (remote: number | null, lateEnabled = false) => {
    writeFileSync(`${file}.tmp`, `services:\n${calm}${remote === null ? '' : stubborn(remote)}${late(lateEnabled)}`);
    renameSync(`${file}.tmp`, file);
  };
  const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });
  const status = async (): Promise<Status> => {
    const r = await cli('status', '--json');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as Status;
  };
  const stubbornStatus = async () => (await status()).services.find((s) => s.name === 'stubborn');
  /** Stubborn tunnel processes of this project still alive. */
  const tunnels = () => processes().filter((p) => p.cmd.includes(STUBBORN.slice(0, 40)) && p.cmd.includes(dir) && alive(p.pid));
  return { dir, file, write, cli, status, stubbornStatus, tunnels };
}

it('a service removed and added back while its old process is still stopping ends up running the new definition (3 times)', async () => {
  const p = await project();
  p.write(1000);
  expect((await p.cli('start', '--all')).code).toBe(0);
  const calmPid = (await p.status()).services.find((s) => s.name === 'calm')!.pid;
  const logFile = (await p.cli('logs', 'stubborn', '--path')).stdout.trim();
  const stops = () => readFileSync(logFile, 'utf8').split('→ stopping').length - 1;

  for (let trial = 1; trial <= 3; trial++) {
    const old = (await p.stubbornStatus())!;
    expect(old.state).toBe('ready');
    const stopsBefore = stops();
    p.write(null); // removed ...
    await waitUntil(() => stops() > stopsBefore, 5000, `trial ${trial}: the old stubborn tunnel is being stopped`);
    expect(alive(old.pid!)).toBe(true); // ... and still ignoring SIGTERM
    p.write(1000 + trial); // ... and back, with a new definition
    await waitUntil(
      async () => {
        const s = await p.stubbornStatus();
        return s?.state === 'ready' && s.remotePort === 1000 + trial && s.pid !== old.pid;
      },
      10000,
      `trial ${trial}: stubborn ready again with remote port ${1000 + trial} and a new pid`,
    );
    // It stays so once the old process is gone (the old code lost it to the late end of the removal).
    await waitUntil(() => !alive(old.pid!), 5000, `trial ${trial}: the old tunnel gone`);
    await new Promise((r) => setTimeout(r, 300));
    const now = (await p.stubbornStatus())!;
    expect([now.state, now.remotePort, alive(now.pid!)]).toEqual(['ready', 1000 + trial, true]);
    expect(p.tunnels().map((t) => t.pid)).toEqual([now.pid]);
  }
  expect((await p.status()).services.find((s) => s.name === 'calm')!.pid).toBe(calmPid);
}, 60000);

it('overlapping reloads (file changes and reload requests) end in the state of the last config, a service switched on included', async () => {
  const p = await project();
  p.write(2000);
  expect((await p.cli('start', '--all')).code).toBe(0);
  const old = (await p.stubbornStatus())!;
  const calmPid = (await p.status()).services.find((s) => s.name === 'calm')!.pid;

  // Each write is followed by a reload request, without waiting for the previous one to finish.
  const requests: Promise<{ code: number | null }>[] = [];
  for (const [remote, lateEnabled] of [[null, false], [2001, false], [null, false], [2002, true]] as const) {
    p.write(remote, lateEnabled);
    requests.push(p.cli('daemon', 'reload'));
    await new Promise((r) => setTimeout(r, 120));
  }
  expect((await Promise.all(requests)).map((r) => r.code)).toEqual([0, 0, 0, 0]);
  await waitUntil(
    async () => {
      const s = await p.stubbornStatus();
      return s?.state === 'ready' && s.remotePort === 2002 && s.pid !== old.pid && !alive(old.pid!);
    },
    15000,
    'stubborn ready with the last definition',
  );
  await new Promise((r) => setTimeout(r, 300));
  const now = (await p.stubbornStatus())!;
  expect([now.state, now.remotePort]).toEqual(['ready', 2002]);
  expect((await p.status()).services.find((s) => s.name === 'late')!.state).toBe('ready');
  expect(p.tunnels().map((t) => t.pid)).toEqual([now.pid]);
  expect((await p.status()).services.find((s) => s.name === 'calm')!.pid).toBe(calmPid);
}, 60000);

it('a reload whose config loads slowly does not install its older config over a newer one', async () => {
  const dir = mkdtempSync(path.join(root, 'p-'));
  const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state') };
  dirs.push({ dir, env });
  const local = await freePort();
  // The config reads its version and how long to take from a side file the daemon does not watch:
  // only the reload requests below load it.
  const side = path.join(dir, 'version.json');
  const setVersion = (remote: number, delayMs: number) => writeFileSync(side, JSON.stringify({ remote, delayMs }));
  setVersion(3000, 0);
  writeFileSync(
    path.join(dir, 'localport.config.ts'),
    `import { readFileSync, writeFileSync } from 'node:fs';
const { remote, delayMs } = JSON.parse(readFileSync(${JSON.stringify(side)}, 'utf8'));
writeFileSync(${JSON.stringify(`${side}.read`)}, String(remote));
await new Promise((r) => setTimeout(r, delayMs));
export default {
  services: {
    x: { technology: 'exec' as const, localPort: ${local}, remotePort: remote, connection: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FAKE_TUNNEL)}, '{localPort}', 'ok', '0', '${dir}/no-flag'] } },
  },
};
`,
  );
  const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });
  const x = async () => (JSON.parse((await cli('status', '--json')).stdout) as Status).services[0];
  expect((await cli('start', '--all')).code).toBe(0);

  setVersion(3001, 4000); // the older one, slow to load (slower than a CLI start on a busy machine)
  const older = cli('daemon', 'reload');
  // Until the daemon has read that version (however slowly the CLI starts on a busy machine).
  await waitUntil(() => existsSync(`${side}.read`) && readFileSync(`${side}.read`, 'utf8') === '3001', 10000, 'the older version read');
  setVersion(3002, 0); // the newer one
  const newer = await cli('daemon', 'reload');
  expect(newer.stdout).toContain('changed x');
  await waitUntil(async () => (await x()).remotePort === 3002, 5000, 'the newer config applied');
  const late = await older;
  expect(late.code).toBe(0);
  expect(late.stdout).toBe('reloaded: a newer reload finished first and applied the current config\n');
  const now = await x();
  expect([now.remotePort, now.state]).toEqual([3002, 'ready']);
}, 30000);

// Configs and presets Node can load itself (.mjs, .cjs) are read anew on every reload: jiti would hand
// them to Node's import(), whose cache keeps the first version for the life of the daemon.
it.each(['mjs', 'cjs'])('a .%s config and the preset it extends are read anew on a hot reload', async (ext) => {
  const dir = mkdtempSync(path.join(root, `js-${ext}-`));
  const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state') };
  dirs.push({ dir, env });
  const out = (body: string) => (ext === 'mjs' ? `export default ${body};\n` : `module.exports = ${body};\n`);
  const service = (name: string, remote: number) =>
    `{ name: '${name}', technology: 'exec', localPort: ${0}, remotePort: ${remote}, connection: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FAKE_TUNNEL)}, '{localPort}', 'ok'] } }`;
  const [a, b] = [await freePort(), await freePort()];
  const write = (file: string, text: string) => {
    writeFileSync(`${file}.tmp`, text);
    renameSync(`${file}.tmp`, file);
  };
  const preset = path.join(dir, `preset.${ext}`);
  const config = path.join(dir, `localport.config.${ext}`);
  write(preset, out(`{ services: [${service('p', 1).replace('localPort: 0', `localPort: ${b}`)}] }`));
  write(config, out(`{ extends: ['./preset.${ext}'], services: [${service('c', 1).replace('localPort: 0', `localPort: ${a}`)}] }`));
  const status = async () => JSON.parse((await runCli(['status', '-o', 'json'], { cwd: dir, env })).stdout) as Status;
  expect((await runCli(['start', '--all'], { cwd: dir, env })).code).toBe(0);
  write(config, out(`{ extends: ['./preset.${ext}'], services: [${service('c', 2).replace('localPort: 0', `localPort: ${a}`)}] }`));
  write(preset, out(`{ services: [${service('p', 3).replace('localPort: 0', `localPort: ${b}`)}] }`));
  const reload = await runCli(['daemon', 'reload', '-o', 'json'], { cwd: dir, env });
  expect(reload.code).toBe(0);
  await waitUntil(async () => {
    const s = await status();
    return s.services.find((x) => x.name === 'c')?.remotePort === 2 && s.services.find((x) => x.name === 'p')?.remotePort === 3;
  }, 10_000, 'the daemon to run the edited config and preset');
});
