import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { freePort, startHttpServer, type HttpPeer } from '../helpers/net.js';

// Only what is needed must resolve: a command needs the variables of the services it starts, and no
// others; `status`, `stop`, `logs` and `daemon …` need none. (tcp services to a real HTTP server.)

let web: HttpPeer;
const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-vars-'));
const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state'), PGPW: undefined, PGPORT: undefined } as unknown as NodeJS.ProcessEnv;
let webPort = 0;

beforeAll(async () => {
  web = await startHttpServer('web needs no variable');
  webPort = await freePort();
  writeFileSync(
    path.join(dir, 'localport.yaml'),
    `services:
  - name: web
    technology: tcp
    local_port: ${webPort}
    remote_port: ${web.port}
    tags: [front]
    connection: { host: 127.0.0.1 }
  - name: pg
    technology: tcp
    local_port: ${await freePort()}
    remote_port: 5432
    tags: [data]
    connection: { host: 127.0.0.1 }
    health_check: { type: http, config: { headers: { Authorization: "Basic \${PGPW}" } } }
  - name: cache
    technology: tcp
    local_port: "\${PGPORT}"
    remote_port: 6379
    tags: [data]
    connection: { host: 127.0.0.1 }
`,
  );
});
afterAll(async () => {
  await runCli(['daemon', 'stop'], { cwd: dir, env });
  await web?.close();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });

it('run web starts without the variables of pg and cache; run pg names the variable it needs', async () => {
  const r = await cli('run', 'web', '--', process.execPath, '-e', 'fetch(`http://127.0.0.1:${process.env.LOCALPORT_WEB_PORT}/`).then((r) => r.text()).then(console.log)');
  expect({ code: r.code, stdout: r.stdout }).toEqual({ code: 0, stdout: 'web needs no variable\n' });

  const pg = await cli('run', 'pg', '--', 'true');
  expect(pg.code).toBe(2);
  expect(pg.stderr).toContain('services[1] (pg).health_check.config.headers.Authorization: environment variable PGPW is not set');
  expect(pg.stderr).not.toContain('PGPORT');

  // Everything, or a tag that takes them in, needs them all; a service whose port is a ${VAR} is named too.
  const all = await cli('run', '--', 'true');
  expect(all.code).toBe(2);
  expect(all.stderr).toContain('PGPW is not set');
  expect(all.stderr).toContain('services[2] (cache).local_port: environment variable PGPORT is not set');
  const data = await cli('run', '-t', 'data', '--', 'true');
  expect(data.code).toBe(2);
  const front = await cli('run', '-t', 'front', '--', 'true');
  expect(front.code).toBe(0);
});

it('status, logs, start/stop of web and daemon status need no variable of the others', async () => {
  const status = await cli('status');
  expect(status.code).toBe(0);
  expect(status.stdout).toMatch(/^web\s/m);
  const logs = await cli('logs', 'web');
  expect(logs.code).toBe(0);
  const start = await cli('start', 'web');
  expect(start.code).toBe(0);
  // The daemon runs without PGPW too; starting pg through it names the variable.
  const pg = await cli('start', 'pg');
  expect(pg.code).toBe(2);
  expect(pg.stderr).toContain('PGPW is not set');
  for (const args of [['status'], ['daemon', 'status'], ['logs'], ['stop', 'web']]) {
    const r = await cli(...args);
    expect({ args, code: r.code }).toEqual({ args, code: 0 });
  }
});

it('config validate checks every variable; --only checks those of the services named', async () => {
  const all = await cli('config', 'validate');
  expect(all.code).toBe(2);
  expect(all.stderr).toContain('PGPW is not set');
  expect(all.stderr).toContain('PGPORT is not set');
  const onlyWeb = await cli('config', 'validate', '--only', 'web');
  expect(onlyWeb.code).toBe(0);
  const onlyPg = await cli('config', 'validate', '--only', 'pg');
  expect(onlyPg.code).toBe(2);
  expect(onlyPg.stderr).toContain('PGPW is not set');
  expect(onlyPg.stderr).not.toContain('PGPORT');
  const withIt = await runCli(['config', 'validate', '--only', 'pg'], { cwd: dir, env: { ...env, PGPW: 'secret' } });
  expect(withIt.code).toBe(0);
});

// The daemon resolves variables in its own environment (the one of the command that started it): a
// running daemon that has one starts the service it is for, whatever the asking command's environment
// (this command refused it, for its own environment's lack).
it("start through a running daemon uses the daemon's environment, not the asking command's", async () => {
  const project = mkdtempSync(path.join(dir, 'daemon-env-'));
  const penv = { ...env, LOCALPORT_STATE_DIR: path.join(project, 'state'), APIPORT: undefined } as unknown as NodeJS.ProcessEnv;
  writeFileSync(
    path.join(project, 'localport.yaml'),
    `services:
  - { name: front, technology: tcp, local_port: ${await freePort()}, remote_port: ${web.port}, connection: { host: 127.0.0.1 } }
  - { name: api, technology: tcp, local_port: ${await freePort()}, remote_port: "\${APIPORT}", connection: { host: 127.0.0.1 } }
`,
  );
  const run = (e: NodeJS.ProcessEnv, ...args: string[]) => runCli(args, { cwd: project, env: e, timeoutMs: 30000 });
  try {
    // The daemon starts with APIPORT set; this command then asks it for api without APIPORT.
    expect((await run({ ...penv, APIPORT: String(web.port) } as never, 'start', 'front')).code).toBe(0);
    const api = await run(penv, 'start', 'api');
    expect({ code: api.code, stderr: api.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const st = JSON.parse((await run(penv, 'status', 'api', '-o', 'json')).stdout) as { services: { state: string; health: { state: string } }[] };
    expect(st.services[0]).toMatchObject({ state: 'ready', health: { state: 'healthy' } });
    // And the other way round: a daemon without it refuses, saying whose environment lacks it.
    expect((await run(penv, 'daemon', 'stop')).code).toBe(0);
    expect((await run(penv, 'start', 'front')).code).toBe(0);
    const refused = await run({ ...penv, APIPORT: String(web.port) } as never, 'start', 'api');
    expect(refused.code).toBe(2);
    expect(refused.stderr).toContain('APIPORT is not set');
    expect(refused.stderr).toContain('hint: The daemon has the environment of the command that started it');
  } finally {
    await run(penv, 'daemon', 'stop');
  }
}, 60000);
