import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from '@jest/globals';
import { runCli } from '../helpers/cli.js';
import { serviceLogFile } from '../../core/dirs.js';

// A FIFO where a service's log should be (put there by mistake, or by another program of the user's):
// `localport logs` opened it to read and waited forever for a writer. It is said, not read.

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-logs-fifo-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

it('logs SERVICE on a FIFO in place of the log is one line, exit 1, at once (it hung)', async () => {
  const file = path.join(dir, 'localport.yaml');
  writeFileSync(file, 'services:\n  - { name: web, technology: tcp, local_port: 18999, remote_port: 80, connection: { host: 127.0.0.1 } }\n');
  const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state') };
  const log = serviceLogFile('web', file, env);
  mkdirSync(path.dirname(log), { recursive: true });
  execFileSync('mkfifo', [log]);
  for (const args of [['logs', 'web'], ['logs', 'web', '-o', 'json']]) {
    const r = await runCli(args, { cwd: dir, env, timeoutMs: 10000 });
    expect({ code: r.code, stderr: r.stderr.split('\n')[0] }).toEqual({
      code: 1,
      stderr: args.includes('json') ? '' : `error: the log file ${log} is not a regular file (a FIFO, a device?): LocalPort does not read it`,
    });
  }
}, 30000);

it("a daemon that cannot start (its log a FIFO) is said with its own output, not an earlier daemon's", async () => {
  const { daemonPaths } = await import('../../app/control/sockets.js');
  const project = mkdtempSync(path.join(dir, 'd-'));
  const file = path.join(project, 'localport.yaml');
  writeFileSync(file, 'services:\n  - { name: web, technology: tcp, local_port: 18998, remote_port: 80, connection: { host: 127.0.0.1 } }\n');
  const env = { LOCALPORT_STATE_DIR: path.join(project, 'state') };
  const paths = daemonPaths(file, env);
  mkdirSync(path.dirname(paths.log), { recursive: true });
  // What an earlier daemon of this config wrote, long ago.
  writeFileSync(paths.stdio, 'localport daemon 4242 ready\n');
  execFileSync('mkfifo', [paths.log]);
  const r = await runCli(['start'], { cwd: project, env, timeoutMs: 20000 });
  expect(r.code).toBe(1);
  expect(r.stderr).toContain(`did not start: cannot write the log file ${paths.log}: it is a FIFO, not a file: remove it`);
  expect(r.stderr).not.toContain('4242');
}, 30000);
