import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { BIN, hasStack, runCli, startCli } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { describeWithPeer, hasPostgres, hasSshd } from '../helpers/peers.js';
import { processesMatching, sshTunnels, waitUntil } from '../helpers/procs.js';
import { startPostgres, type PostgresPeer } from '../helpers/postgres.js';
import { sshConnection, startSshd, type SshdPeer } from '../helpers/sshd.js';

// The built CLI; a real OpenSSH sshd and a real PostgreSQL 15 behind the tunnel.

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-health-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

describeWithPeer('OpenSSH sshd + PostgreSQL', hasSshd && hasPostgres, 'health through the CLI', () => {
  let sshd: SshdPeer;
  let pg: PostgresPeer;
  const stateDir = path.join(root, 'state');
  const env = { LOCALPORT_STATE_DIR: stateDir, PGPASS: 'pg-e2e-pw' };

  beforeAll(async () => {
    [sshd, pg] = await Promise.all([startSshd(), startPostgres('pg-e2e-pw')]);
  }, 30000);
  afterAll(async () => {
    await Promise.all([sshd?.stop(), pg?.stop()]);
  });

  async function project(password: string, database = 'postgres'): Promise<{ dir: string; local: number }> {
    const dir = mkdtempSync(path.join(root, 'p-'));
    const local = await freePort();
    const c = sshConnection(sshd);
    writeFileSync(
      path.join(dir, 'localport.yaml'),
      `services:
  - name: db
    technology: ssh
    local_port: ${local}
    remote_port: ${pg.port}
    connection: { host: 127.0.0.1, port: ${c.port}, key_file: ${c.key_file}, known_hosts_file: ${c.known_hosts_file}, remote_host: 127.0.0.1 }
    health_check:
      type: postgres
      interval: 0.2
      timeout: 1
      failure_threshold: 2
      config: { user: postgres, password: "${password}", database: ${database} }
    restart_policy: { initial_delay: 0.2, backoff_multiplier: 2, jitter: 0, reset_after: 1 }
`,
    );
    return { dir, local };
  }

  const status = async (dir: string) => {
    const r = await runCli(['status', '--output', 'json'], { cwd: dir, env });
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as { running: boolean; services: { name: string; state: string; restarts: number; lastError: string | null; health: { state: string; kind: string | null; consecutiveFailures: number; lastCheck: string | null } | null }[] };
  };

  it('shows unhealthy and growing restart delays in status and logs while PostgreSQL is down, then settles', async () => {
    const { dir, local } = await project('${PGPASS}');
    const cli = startCli(['run'], { cwd: dir, env });
    let pgDown = false;
    try {
      await cli.waitFor(/db\s+ssh\s+ready\s+postgres: healthy/);
      const before = await status(dir);
      expect(before.running).toBe(true);
      expect(before.services[0]).toMatchObject({ name: 'db', state: 'ready', restarts: 0, health: { state: 'healthy', consecutiveFailures: 0 } });
      expect(before.services[0].health!.lastCheck).not.toBeNull();

      await pg.stopServer();
      pgDown = true;
      await cli.waitFor(/db: unhealthy \((service_down|unreachable)/);
      await waitUntil(async () => (await status(dir)).services[0].restarts >= 2, 15000, 'two restarts in status');
      const during = (await status(dir)).services[0];
      expect(during.lastError).toMatch(/health check postgres failed 2 times/);

      const log = readFileSync(path.join(stateDir, 'logs', 'localport.log'), 'utf8');
      const delays = [...log.matchAll(/restarting db in ([\d.]+) s \(attempt (\d+)\)/g)].map((m) => [Number(m[1]), Number(m[2])]);
      expect(delays.slice(0, 2)).toEqual([
        [0.2, 1],
        [0.4, 2],
      ]);

      await pg.startServer();
      pgDown = false;
      await waitUntil(async () => (await status(dir)).services[0].health?.state === 'healthy', 15000, 'healthy again');
      const settled = (await status(dir)).services[0].restarts;
      await new Promise((r) => setTimeout(r, 1200));
      expect((await status(dir)).services[0]).toMatchObject({ state: 'ready', restarts: settled, health: { state: 'healthy' } });
      // The secret never reaches status or the log.
      expect(JSON.stringify(await status(dir))).not.toContain('pg-e2e-pw');
      expect(readFileSync(path.join(stateDir, 'logs', 'localport.log'), 'utf8')).not.toContain('pg-e2e-pw');
    } finally {
      cli.child.kill('SIGTERM');
      await cli.exited;
      if (pgDown) await pg.startServer();
    }
    expect(sshTunnels(local, sshd.port)).toEqual([]);
    const after = await status(dir);
    expect(after.running).toBe(false);
    expect(after.services[0].state).toBe('stopped');
  }, 60000);

  it('fails at --timeout naming the service and its last check error when the check never passes, without running the command', async () => {
    // A missing database (3D000) is the server's answer, but not a refused login: checked until --timeout.
    const { dir, local } = await project('${PGPASS}', 'nope');
    const marker = path.join(dir, 'ran');
    const r = await runCli(['run', '--timeout', '2', '--', 'node', '-e', `require('fs').writeFileSync(${JSON.stringify(marker)}, '')`], { cwd: dir, env });
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(/service db: not (healthy|ready) after --timeout 2 s \(last postgres check: postgres: 3D000 database "nope" does not exist\)/);
    expect(existsSync(marker)).toBe(false);
    expect(hasStack(r.stderr)).toBe(false);
    expect(sshTunnels(local, sshd.port)).toEqual([]);
  }, 20000);
});

describe('lazy loading', () => {
  const dir = mkdtempSync(path.join(root, 'lazy-'));
  writeFileSync(path.join(dir, 'localport.yaml'), 'services:\n  - name: a\n    technology: ssh\n    local_port: 1\n    remote_port: 2\n    connection: { host: h }\n    health_check: { type: postgres }\n');
  // bin.js runs the bundle (scripts/bundle.mjs), where the libraries bundled in (clipanion, zod,
  // cosmiconfig…) are no imports to record: for those, main.js, the tsc output the bundle is built from
  // (esbuild keeps each `import()` lazy). The libraries left out of the bundle are imports in both.
  const MAIN = path.join(path.dirname(BIN), 'main.js');
  const loaded = (args: string[], entry = BIN) => {
    const file = path.join(dir, `imports-${path.basename(entry)}-${args.join('-')}.txt`);
    const r = spawnSync(process.execPath, ['--import', new URL('../fixtures/record-imports.mjs', import.meta.url).href, entry, ...args], {
      cwd: dir,
      env: { ...process.env, RECORD_IMPORTS: file, LOCALPORT_STATE_DIR: path.join(root, 'lazy-state') },
      encoding: 'utf8',
    });
    expect(r.status).toBe(0);
    return readFileSync(file, 'utf8').split('\n');
  };
  const EXTERNAL = ['pg', 'kafkajs', 'undici', 'execa', 'listr2', 'jiti'];

  it('--help loads nothing but the entry (the list the build wrote); a command\'s --help loads clipanion and nothing heavy', () => {
    expect(loaded(['--help']).filter((s) => s && !s.startsWith('node:') && !s.startsWith('file:'))).toEqual(['../app/terminal.js']);
    const specs = loaded(['run', '--help'], MAIN);
    expect(specs).toContain('clipanion');
    for (const heavy of [...EXTERNAL, 'zod', 'pino', 'cosmiconfig']) expect(specs).not.toContain(heavy);
    const bundled = loaded(['run', '--help']);
    for (const heavy of EXTERNAL) expect(bundled).not.toContain(heavy);
  });

  it('config validate with a postgres check does not load pg, kafkajs, undici, execa or listr2', () => {
    const specs = loaded(['config', 'validate'], MAIN);
    expect(specs).toContain('zod');
    for (const heavy of ['pg', 'kafkajs', 'undici', 'execa', 'listr2']) expect(specs).not.toContain(heavy);
    const bundled = loaded(['config', 'validate']);
    for (const heavy of ['pg', 'kafkajs', 'undici', 'execa', 'listr2']) expect(bundled).not.toContain(heavy);
  });

  // jiti was left out of the bundle until #15's third cold-start pass; bundled, its 190 KB are in the
  // code cache (Node 20 compiled them on every command with a .ts config). Babel, its transform, is
  // still required from node_modules, only for a config not transpiled yet.
  it('a .ts config is loaded by the jiti in the bundle, not imported from node_modules', () => {
    const ts = mkdtempSync(path.join(root, 'lazy-ts-'));
    writeFileSync(path.join(ts, 'localport.config.ts'), "export default { services: [{ name: 'a', technology: 'ssh', local_port: 1, remote_port: 2, connection: { host: 'h' } }] };\n");
    const file = path.join(ts, 'imports.txt');
    const r = spawnSync(process.execPath, ['--import', new URL('../fixtures/record-imports.mjs', import.meta.url).href, BIN, 'config', 'validate'], {
      cwd: ts,
      env: { ...process.env, RECORD_IMPORTS: file, LOCALPORT_STATE_DIR: path.join(root, 'lazy-state') },
      encoding: 'utf8',
    });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    expect(readFileSync(file, 'utf8').split('\n')).not.toContain('jiti');
  });
});
