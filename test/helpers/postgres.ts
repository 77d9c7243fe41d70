import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from './net.js';
import { PG_BIN } from './peer-bins.js';

export interface PostgresPeer {
  port: number;
  password: string;
  /** Stop the server (SIGINT, by PID); the data directory stays. */
  stopServer(): Promise<void>;
  /** Start it again on the same port and data. */
  startServer(): Promise<void>;
  /** Everything the server logged on stderr since it first started. */
  log(): string;
  /** Logins the server refused so far (wrong password or unknown user: `28P01`, logged as FATAL). */
  failedLogins(): number;
  /** Stop and remove everything. */
  stop(): Promise<void>;
}

/**
 * A real PostgreSQL server: initdb with scram-sha-256 on host connections, on 127.0.0.1
 * and a free port, run as the `postgres` user when we are root (initdb refuses root).
 */
export async function startPostgres(password = 'pg-test-pw'): Promise<PostgresPeer> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-pg-'));
  const asRoot = process.getuid?.() === 0;
  let ids: { uid: number; gid: number } | undefined;
  if (asRoot) {
    ids = {
      uid: Number(execFileSync('id', ['-u', 'postgres'], { encoding: 'utf8' }).trim()),
      gid: Number(execFileSync('id', ['-g', 'postgres'], { encoding: 'utf8' }).trim()),
    };
    chownSync(dir, ids.uid, ids.gid);
  }
  chmodSync(dir, 0o700);
  const pwfile = path.join(dir, 'pw');
  writeFileSync(pwfile, `${password}\n`);
  if (ids) chownSync(pwfile, ids.uid, ids.gid);
  const data = path.join(dir, 'data');
  execFileSync(
    `${PG_BIN}/initdb`,
    ['-D', data, '-U', 'postgres', `--pwfile=${pwfile}`, '--auth-host=scram-sha-256', '--auth-local=trust', '-N', '--no-instructions', '-E', 'UTF8', '--locale=C'],
    { stdio: 'ignore', ...ids, cwd: dir },
  );
  const port = await freePort();
  let child: ChildProcess | undefined;
  let fullLog = '';

  const startServer = async () => {
    const c = spawn(`${PG_BIN}/postgres`, ['-D', data, '-p', String(port), '-c', 'listen_addresses=127.0.0.1', '-k', dir, '-c', 'fsync=off'], {
      stdio: ['ignore', 'ignore', 'pipe'],
      cwd: dir,
      ...ids,
    });
    let log = '';
    await new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`postgres did not start within 10 s:\n${log}`)), 10000);
      c.stderr!.setEncoding('utf8').on('data', (d: string) => {
        log += d;
        fullLog += d;
        if (/ready to accept connections/.test(log)) {
          clearTimeout(timer);
          resolve();
        }
      });
      c.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`postgres exited ${code}:\n${log}`));
      });
    });
    child = c;
  };
  const stopServer = async () => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGINT');
    const t = setTimeout(() => c.kill('SIGKILL'), 5000);
    await exited;
    clearTimeout(t);
  };
  await startServer();
  return {
    port,
    password,
    startServer,
    stopServer,
    log: () => fullLog,
    failedLogins: () => fullLog.match(/FATAL: {2}password authentication failed/g)?.length ?? 0,
    async stop() {
      await stopServer();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
