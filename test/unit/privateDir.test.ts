import { chownSync, existsSync, mkdirSync, mkdtempSync, rmSync, statSync, symlinkSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from '@jest/globals';
import { privateDirectory } from '../../core/privateDir.js';

const base = mkdtempSync(path.join(os.tmpdir(), 'lp-private-'));
const saved = process.env.XDG_RUNTIME_DIR;
process.env.XDG_RUNTIME_DIR = base;
afterAll(() => {
  process.env.XDG_RUNTIME_DIR = saved;
  rmSync(base, { recursive: true, force: true });
});

it("is 0700, this process's own, the same on every call, and made again when it vanished", () => {
  const dir = privateDirectory('t')!;
  expect(path.dirname(dir)).toBe(base);
  expect(path.basename(dir)).toMatch(new RegExp(`^localport-t${process.pid}-[A-Za-z0-9]{6}$`));
  expect(statSync(dir).mode & 0o777).toBe(0o700);
  expect(privateDirectory('t')).toBe(dir);
  rmSync(dir, { recursive: true });
  const again = privateDirectory('t')!;
  expect(again).not.toBe(dir);
  expect(existsSync(again)).toBe(true);
});

it("removes what a dead LocalPort left, never a live one's, a link, or another user's", () => {
  // pid 2^22+1 is above Linux's pid_max default: nobody.
  const dead = path.join(base, 'localport-u4194305-AbCdEf');
  const live = path.join(base, `localport-u${process.ppid}-AbCdEf`);
  const theirs = path.join(base, 'localport-u4194306-AbCdEf');
  const link = path.join(base, 'localport-u4194307-AbCdEf');
  for (const d of [dead, live, theirs]) mkdirSync(d);
  symlinkSync(live, link);
  if (process.getuid?.() === 0) chownSync(theirs, 65534, 65534);
  privateDirectory('u');
  expect(existsSync(dead)).toBe(false);
  expect(existsSync(live)).toBe(true);
  expect(existsSync(link)).toBe(true);
  if (process.getuid?.() === 0) expect(existsSync(theirs)).toBe(true);
});

it('skips a place whose path it may not use (too long for a socket, not plain for a shell)', () => {
  const dir = privateDirectory('v', (d) => !d.startsWith(base));
  expect(dir === undefined || !dir.startsWith(base)).toBe(true);
});
