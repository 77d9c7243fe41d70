import { mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { freePort, startHttpServer, type HttpPeer } from '../helpers/net.js';

// Redaction by value hides secrets, not numbers: a `${VAR}` that went into a port is no secret, so
// another service's literal port equal to it is shown; a token in a string stays hidden in status,
// errors, the logs and the files at rest. The built CLI and a real daemon; fixed ports from 21000–21999.

const CACHE_PORT = 21211;
const TOKEN = 'tk-9a8b7c6d5e';
let web: HttpPeer;
const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-redact-'));
const state = path.join(dir, 'state');
const env = { LOCALPORT_STATE_DIR: state, CACHE_PORT: String(CACHE_PORT), TOKEN } as unknown as NodeJS.ProcessEnv;
const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });

beforeAll(async () => {
  web = await startHttpServer('web');
  writeFileSync(
    path.join(dir, 'localport.yaml'),
    `services:
  - name: cache
    technology: tcp
    local_port: "\${CACHE_PORT}"
    remote_port: ${web.port}
    connection: { host: 127.0.0.1 }
  - name: other
    technology: tcp
    enabled: false
    local_port: ${await freePort()}
    remote_port: ${CACHE_PORT}
    connection: { host: 127.0.0.1 }
  - name: bad
    technology: exec
    local_port: ${await freePort()}
    remote_port: 1
    restart_policy: { enabled: false }
    connection:
      command: ${JSON.stringify(process.execPath)}
      args: ["-e", "console.error('auth failed for token ' + process.env.T + ' on port ${CACHE_PORT}'); process.exit(3)"]
      env: { T: "\${TOKEN}" }
`,
  );
});
afterAll(async () => {
  await cli('daemon', 'stop');
  await web?.close();
  rmSync(dir, { recursive: true, force: true });
});

/** Every file under `root` whose text holds `needle`. */
function filesHolding(root: string, needle: string): string[] {
  return readdirSync(root, { recursive: true, encoding: 'utf8' })
    .map((f) => path.join(root, f))
    .filter((f) => statSync(f).isFile() && readFileSync(f, 'utf8').includes(needle));
}

it('a port from a variable is no secret: the same number elsewhere is shown; the token stays hidden everywhere', async () => {
  const start = await cli('start', 'cache', 'bad');
  expect(start.code).not.toBe(0);
  expect(start.stderr).not.toContain(TOKEN);

  const status = await cli('status', '-o', 'json');
  expect(status.code).toBe(0);
  const rows = JSON.parse(status.stdout).services as { name: string; state: string; localPort: number; remotePort: number; target: string; lastError: string | null }[];
  const by = Object.fromEntries(rows.map((s) => [s.name, s]));
  expect(by.cache).toMatchObject({ state: 'ready', localPort: CACHE_PORT });
  // Before: remotePort '***' and target '127.0.0.1:***', a literal in the file hidden as if it were the variable.
  expect(by.other).toMatchObject({ remotePort: CACHE_PORT, target: `127.0.0.1:${CACHE_PORT}` });
  expect(by.bad.state).toBe('failed');
  expect(by.bad.lastError).toContain(`auth failed for token *** on port ${CACHE_PORT}`);
  const table = await cli('status', '--wide');
  expect(table.stdout).toMatch(new RegExp(`^other\\s.*127\\.0\\.0\\.1:${CACHE_PORT}`, 'm'));
  expect(status.stdout + table.stdout).not.toContain(TOKEN);

  const logs = await cli('logs', 'bad');
  expect(logs.stdout).toContain(`auth failed for token *** on port ${CACHE_PORT}`);
  expect(logs.stdout).not.toContain(TOKEN);
  const print = await cli('config', 'print', '-o', 'json');
  expect(JSON.parse(print.stdout).config.services[2].connection.env.T).toBe('***');
  // At rest: the logs, the daemon's files, everything LocalPort wrote.
  expect(filesHolding(state, TOKEN)).toEqual([]);
  expect(filesHolding(state, '*** on port').length).toBeGreaterThan(0);
});
