import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { freePort, startHttpServer, type HttpPeer } from '../helpers/net.js';

// `run` while this config's own daemon holds the ports: said as such, with the way out, before
// anything starts. tcp services to a real HTTP server, the built CLI, a real daemon.

let peer: HttpPeer;
const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-rund-'));
const file = path.join(dir, 'localport.yaml');
const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state') } as NodeJS.ProcessEnv;
const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });
let webPort = 0;

beforeAll(async () => {
  peer = await startHttpServer('through the daemon');
  webPort = await freePort();
  writeFileSync(
    file,
    ['web', 'api'].map((name, i) => `  - name: ${name}\n    technology: tcp\n    local_port: ${i ? '__API__' : webPort}\n    remote_port: ${peer.port}\n    connection: { host: 127.0.0.1 }\n`).join('').replace(/^/, 'services:\n').replace('__API__', String(await freePort())),
  );
});
afterAll(async () => {
  await cli('daemon', 'stop');
  await peer?.close();
  rmSync(dir, { recursive: true, force: true });
});

it("names this config's own daemon as the holder of the port and points at stop and daemon stop; a service it does not run still runs", async () => {
  expect((await cli('start', 'web')).code).toBe(0);
  const pid = JSON.parse((await cli('daemon', 'status', '-o', 'json')).stdout).pid as number;

  const r = await cli('run', 'web', '--', 'true');
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`error: LocalPort's own daemon for ${file} (pid ${pid}) runs web (port ${webPort}): the port this run needs`);
  expect(r.stderr).toContain('hint: Use it through the daemon, or stop it there first: localport stop web (or localport daemon stop for everything). localport status shows what the daemon runs.');
  // Before anything started: no tree, no "already in use by pid … (node …)".
  expect(r.stderr).not.toMatch(/STARTED|already in use/);

  const json = await cli('run', 'web', '-o', 'json', '--', 'true');
  expect(json.code).toBe(1);
  expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'PORT_IN_USE' });

  // api is not the daemon's: run starts it next to the daemon.
  expect((await cli('run', 'api', '--', 'true')).code).toBe(0);
  // Handed over: stopped in the daemon, web runs in the foreground.
  expect((await cli('stop', 'web')).code).toBe(0);
  expect((await cli('run', 'web', '--', 'true')).code).toBe(0);
});
