import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { freePort, httpGet, startHttpServer, type HttpPeer } from '../helpers/net.js';

// A service whose `${VAR}` is not set is shown, named, as not resolvable (never dropped), and a
// reload never stops a running service for a variable the daemon does not have. tcp services to a
// real HTTP server, the built CLI, a real daemon.

let web: HttpPeer;
const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-unres-'));
const file = path.join(dir, 'localport.yaml');
const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state'), PGPW: undefined, CPORT: undefined, WEBVAR: undefined } as unknown as NodeJS.ProcessEnv;
let webPort = 0;
let pgPort = 0;

const webService = (extra = '') => `  - name: web
    technology: tcp
    local_port: ${webPort}
    remote_port: ${web.port}
    connection: { host: 127.0.0.1 }
    tags: [front]
${extra}`;
const others = () => `  - name: pg
    technology: tcp
    local_port: ${pgPort}
    remote_port: 5432
    connection: { host: 127.0.0.1 }
    health_check: { type: http, config: { headers: { Authorization: "Basic \${PGPW}" } } }
  - name: cache
    technology: tcp
    local_port: "\${CPORT}"
    remote_port: 6379
    connection: { host: 127.0.0.1 }
`;
const write = (webExtra = '') => writeFileSync(file, `services:\n${webService(webExtra)}${others()}`);

beforeAll(async () => {
  web = await startHttpServer('web answers');
  webPort = await freePort();
  pgPort = await freePort();
  write();
});
afterAll(async () => {
  await runCli(['daemon', 'stop'], { cwd: dir, env });
  await web?.close();
  rmSync(dir, { recursive: true, force: true });
});

const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });
type Row = { name: string; state: string; lastError: string | null; unsetVariables?: string[]; localPort: number | null; remotePort: number | null };
const json = async (...args: string[]) => {
  const r = await cli(...args, '-o', 'json');
  expect({ args, code: r.code, stderr: r.stderr }).toEqual({ args, code: 0, stderr: expect.any(String) });
  return (JSON.parse(r.stdout) as { services: Row[] }).services;
};

it('status shows services with unset variables as unresolved, named, in the table, JSON and text, and finds them by name', async () => {
  const table = await cli('status', '--wide');
  expect(table.code).toBe(0);
  expect(table.stdout).toMatch(/^pg\s+tcp\s+unresolved\s.*not resolvable: PGPW is not set in this command's environment \(used in health_check\.config\.headers\.Authorization\)$/m);
  expect(table.stdout).toMatch(/^cache\s+tcp\s+unresolved\s.*not resolvable: CPORT is not set in this command's environment \(used in local_port\)$/m);
  expect(table.stdout).toMatch(/^web\s+tcp\s+stopped\s/m);

  const rows = await json('status');
  expect(rows.map((s) => [s.name, s.state, s.unsetVariables ?? null])).toEqual([
    ['web', 'stopped', null],
    ['pg', 'unresolved', ['PGPW']],
    ['cache', 'unresolved', ['CPORT']],
  ]);
  // What the file says without the variable is shown; what it does not, is null (never a made-up 0).
  expect(rows[2]).toMatchObject({ localPort: null, remotePort: 6379 });
  expect(rows[1]).toMatchObject({ localPort: pgPort, remotePort: 5432 });

  const text = await cli('status', '-o', 'text');
  expect(text.stdout.split('\n')[2]).toMatch(/^cache unresolved - - - 0 tcp - - not%20resolvable:%20CPORT%20is%20not%20set/);

  const one = await cli('status', 'cache');
  expect(one.code).toBe(0);
  expect(one.stdout).toMatch(/^cache\s+tcp\s+unresolved\s/m);
  expect(one.stdout).not.toContain('No services.');
  expect((await json('status', 'cache', 'pg')).map((s) => s.name)).toEqual(['cache', 'pg']);
});

let since = '';

it("the daemon's status shows them too, as unset in the daemon's environment", async () => {
  expect((await cli('start', 'web')).code).toBe(0);
  expect(await httpGet(webPort)).toBe('web answers');
  since = ((await json('status', 'web'))[0] as Row & { since: string }).since;
  const rows = await json('status');
  expect(rows.map((s) => [s.name, s.state])).toEqual([
    ['web', 'ready'],
    ['pg', 'unresolved'],
    ['cache', 'unresolved'],
  ]);
  expect(rows[2].lastError).toBe("not resolvable: CPORT is not set in the daemon's environment (used in local_port)");
  const daemon = await cli('daemon', 'status', '-o', 'json');
  expect(JSON.parse(daemon.stdout).services).toEqual({ ready: 1, unresolved: 2 });
  expect((await json('status', 'cache')).map((s) => [s.name, s.state])).toEqual([['cache', 'unresolved']]);
});

// Before: web's mistake was tolerated with its variable, web was dropped from the config, and the reload
// stopped it ("removed"); and with the variable alone it was dropped (a port) or restarted with a placeholder.
it('a reload refuses an unrelated mistake in a service that needs an unset variable, and keeps web running; with the variable alone web keeps running as it was', async () => {
  expect((await json('status', 'web'))[0]).toMatchObject({ state: 'ready', since });

  // web's port is now a variable the daemon lacks, and its remote_port is no port: not tolerated.
  const withPortVariable = (text: string) => text.replace(`local_port: ${webPort}`, 'local_port: "${WEBVAR}"');
  writeFileSync(file, `services:\n${withPortVariable(webService()).replace(`remote_port: ${web.port}`, 'remote_port: eighty')}${others()}`);
  const refused = await cli('daemon', 'reload');
  expect(refused.code).toBe(2);
  expect(refused.stderr).toContain('services[0] (web).remote_port: must be a port number (got "eighty")');
  expect(refused.stderr).not.toContain('local_port');
  expect((await json('status', 'web'))[0]).toMatchObject({ state: 'ready', since });
  expect(await httpGet(webPort)).toBe('web answers');
  // The refusal is kept for status until a valid config arrives.
  expect(JSON.parse((await cli('status', '-o', 'json')).stdout).reloadError).toContain('remote_port');
  write('    description: "${WEBVAR}"\n    restart_policy: { max_attempts: lots }\n');
  expect((await cli('daemon', 'reload')).stderr).toContain('services[0] (web).restart_policy.max_attempts: must be a whole number');
  expect((await json('status', 'web'))[0]).toMatchObject({ state: 'ready', since });
  expect(await httpGet(webPort)).toBe('web answers');

  // Only the variable: web keeps running as it was (not removed, not restarted with a placeholder).
  write(`    description: "\${WEBVAR}"\n`);
  const kept = await cli('daemon', 'reload', '-o', 'json');
  expect(kept.code).toBe(0);
  expect(JSON.parse(kept.stdout)).toMatchObject({ removed: [], changed: [], added: [] });
  expect((await json('status', 'web'))[0]).toMatchObject({ state: 'ready', since });
  expect(await httpGet(webPort)).toBe('web answers');
  writeFileSync(file, `services:\n${withPortVariable(webService())}${others()}`);
  const portKept = await cli('daemon', 'reload', '-o', 'json');
  expect(portKept.code).toBe(0);
  expect(JSON.parse(portKept.stdout)).toMatchObject({ removed: [], changed: [], added: [] });
  expect((await json('status', 'web'))[0]).toMatchObject({ state: 'ready', since });
  expect(await httpGet(webPort)).toBe('web answers');
  // Starting it again through the daemon names the variable; stopping it by its tag works (it said
  // "no enabled service has tag 'front'"), and by its name.
  const start = await cli('restart', 'web');
  expect(start.code).toBe(2);
  expect(start.stderr).toContain('WEBVAR is not set');
  const byTag = await cli('stop', '-t', 'front', '-o', 'json');
  expect({ code: byTag.code, stopped: JSON.parse(byTag.stdout).stopped }).toEqual({ code: 0, stopped: ['web'] });
  expect((await cli('stop', 'web')).code).toBe(0);
  expect((await json('status', 'web'))[0]).toMatchObject({ state: 'unresolved', unsetVariables: ['WEBVAR'], localPort: null });
});
