import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from '@jest/globals';

// The Unix socket directory of the internal endpoints: private, fresh, and cleaned up after a killed LocalPort.
const base = mkdtempSync(path.join(os.tmpdir(), 'lp-endpoints-'));
process.env.XDG_RUNTIME_DIR = base;
afterAll(() => rmSync(base, { recursive: true, force: true }));

it('puts Unix sockets in a fresh 0700 directory named after this process, and removes those of dead LocalPorts only', async () => {
  // A pid that is surely gone: a process that has exited.
  const dead = spawnSync(process.execPath, ['-e', '0']).pid!;
  const leftover = path.join(base, `localport-s${dead}-abcdef`);
  mkdirSync(leftover, { mode: 0o700 });
  const living = path.join(base, `localport-s${process.ppid}-ghijkl`);
  mkdirSync(living, { mode: 0o700 });
  const target = mkdtempSync(path.join(os.tmpdir(), 'lp-endpoints-target-'));
  const link = path.join(base, `localport-s${dead}-mnopqr`);
  symlinkSync(target, link);

  const { internalEndpoint } = await import('../../../core/supervisor/endpoints.js');
  const a = await internalEndpoint('unix');
  const b = await internalEndpoint('unix');
  expect('path' in a && 'path' in b).toBe(true);
  const dir = path.dirname((a as { path: string }).path);
  expect(path.dirname((b as { path: string }).path)).toBe(dir);
  expect(path.basename(dir)).toMatch(new RegExp(`^localport-s${process.pid}-\\w{6}$`));
  expect(statSync(dir).mode & 0o777).toBe(0o700);
  expect((a as { path: string }).path.length).toBeLessThan(104);

  expect(existsSync(leftover)).toBe(false);
  expect(existsSync(living)).toBe(true);
  // A link is never followed: what it points at stays.
  expect(existsSync(target)).toBe(true);
  rmSync(target, { recursive: true, force: true });
});

it('hands out a loopback port for a technology that listens on TCP', async () => {
  const { internalEndpoint } = await import('../../../core/supervisor/endpoints.js');
  const e = await internalEndpoint('tcp');
  expect(e).toEqual({ host: '127.0.0.1', port: expect.any(Number) });
});
