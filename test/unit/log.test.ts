import { execFileSync, spawn } from 'node:child_process';
import { appendFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { createLogger, ServiceLog } from '../../core/log.js';
import { serviceLogFile } from '../../core/dirs.js';
import { follow } from '../../app/logs.js';
import { Redactor } from '../../core/redact.js';
import { waitUntil } from '../helpers/procs.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-log-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('service logs', () => {
  it('live in a folder per project, so two projects never share one', () => {
    const a = serviceLogFile('postgres', '/work/shop/localport.yaml');
    const b = serviceLogFile('postgres', '/work/billing/localport.yaml');
    expect(a).not.toBe(b);
    expect(path.basename(path.dirname(a))).toMatch(/^shop-[0-9a-f]{8}$/);
    expect(path.basename(a)).toBe('postgres.log');
  });

  it('are written anew when deleted under a running tunnel (rm -rf of the state dir)', async () => {
    const file = path.join(dir, 'gone', 'svc.log');
    const log = new ServiceLog(file, new Redactor());
    log.line('stdout', 'before');
    rmSync(path.dirname(file), { recursive: true, force: true });
    await new Promise((r) => setTimeout(r, 1100));
    log.line('stdout', 'after');
    expect(existsSync(file)).toBe(true);
    expect(readFileSync(file, 'utf8')).toMatch(/ stdout after\n$/);
    await log.close();
  });

  it('never wait on a FIFO put in their place (the open would block the daemon); lines go to a file again once it is gone', () => {
    const file = path.join(dir, 'fifo', 'svc.log');
    mkdirSync(path.dirname(file), { recursive: true });
    execFileSync('mkfifo', [file]);
    // Nothing reads this FIFO. A blocking open waits for a reader, and this whole test process with it:
    // the child opens it to read after 3 s, so that the broken case fails on the time instead of hanging.
    const unblocker = spawn(process.execPath, ['-e', `setTimeout(() => require('fs').readFileSync(${JSON.stringify(file)}), 3000)`], { stdio: 'ignore' });
    try {
      const log = new ServiceLog(file, new Redactor());
      const t0 = Date.now();
      log.line('stdout', 'lost: nobody reads the FIFO');
      expect(Date.now() - t0).toBeLessThan(1500);
      rmSync(file);
      log.line('stdout', 'kept');
      expect(readFileSync(file, 'utf8')).toMatch(/ stdout kept\n$/);
      void log.close();
    } finally {
      unblocker.kill('SIGKILL');
    }
  });

  it('a FIFO in the main log\'s place is one line naming it, not a command that waits forever', async () => {
    const file = path.join(dir, 'fifo-main', 'localport.log');
    mkdirSync(path.dirname(file), { recursive: true });
    execFileSync('mkfifo', [file]);
    // As above: the child ends a blocking open after 3 s (the old code then went on and wrote to the FIFO).
    const unblocker = spawn(process.execPath, ['-e', `setTimeout(() => require('fs').readFileSync(${JSON.stringify(file)}), 3000)`], { stdio: 'ignore' });
    try {
      await expect(createLogger(new Redactor(), { file })).rejects.toMatchObject({ code: 'STATE_UNWRITABLE', message: `cannot write the log file ${file}: it is a FIFO, not a file: remove it` });
    } finally {
      unblocker.kill('SIGKILL');
    }
  });

  it('rotate by size, keeping three old files, and redact', async () => {
    process.env.LOCALPORT_STATE_DIR = dir;
    process.env.LOCALPORT_LOG_MAX_BYTES = '1000';
    try {
      const r = new Redactor();
      r.add('hunter2-secret');
      const log = new ServiceLog(serviceLogFile('rot'), r);
      for (let i = 0; i < 100; i++) log.line('stderr', `line ${i} hunter2-secret ${'x'.repeat(40)}`);
      await log.close();
      const file = log.file;
      expect([file, `${file}.1`, `${file}.2`, `${file}.3`].every(existsSync)).toBe(true);
      expect(existsSync(`${file}.4`)).toBe(false);
      const all = [file, `${file}.1`].map((f) => readFileSync(f, 'utf8')).join('');
      expect(all).toContain('line 99 *** ');
      expect(all).not.toContain('hunter2');
      expect(readFileSync(file, 'utf8').length).toBeLessThanOrEqual(1000);
    } finally {
      delete process.env.LOCALPORT_LOG_MAX_BYTES;
    }
  });

  it('are followed across a rotation', async () => {
    const file = path.join(dir, 'follow.log');
    writeFileSync(file, 'old\n');
    const seen: string[] = [];
    const abort = new AbortController();
    const done = follow(file, (l) => seen.push(l), abort.signal, 20);
    appendFileSync(file, 'one\n');
    await waitUntil(() => seen.includes('one'), 2000, 'one');
    renameSync(file, `${file}.1`);
    writeFileSync(file, 'two\n');
    await waitUntil(() => seen.includes('two'), 2000, 'two after rotation');
    abort.abort();
    await done;
    expect(seen).toEqual(['one', 'two']);
  });
});
