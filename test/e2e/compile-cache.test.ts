import { chmodSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { runCli } from '../helpers/cli.js';

// The bundled CLI's V8 code cache (cli/cached.ts), as a user's commands meet it: written by the first
// command, used by the next, never read from a directory someone else can write to, off on request,
// and a cache that does not fit the bundle is replaced, not trusted.

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-ccache-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

writeFileSync(path.join(root, 'localport.yaml'), 'services:\n  - name: db\n    technology: ssh\n    local_port: 15432\n    remote_port: 5432\n    connection: { host: bastion }\n');
const STATUS = /^db +ssh +stopped /m;

function setup(name: string) {
  const cache = path.join(root, name);
  const env = { LOCALPORT_STATE_DIR: path.join(root, `state-${name}`), NODE_COMPILE_CACHE: cache, NODE_DISABLE_COMPILE_CACHE: undefined };
  const status = async () => {
    const r = await runCli(['status'], { cwd: root, env });
    expect(r.stderr).toBe('');
    expect(r.stdout).toMatch(STATUS);
    expect(r.code).toBe(0);
  };
  const files = () => (existsSync(path.join(cache, 'localport')) ? readdirSync(path.join(cache, 'localport')).filter((f) => f.endsWith('.v8')) : []);
  return { cache, env, status, files };
}

describe('the code cache of the bundled CLI', () => {
  it('is written by the first command (0600, in a 0700 directory) and kept by the next', async () => {
    const c = setup('first');
    await c.status();
    const [file] = c.files();
    expect(c.files()).toHaveLength(1);
    const dir = path.join(c.cache, 'localport');
    expect(statSync(dir).mode & 0o777).toBe(0o700);
    expect(statSync(path.join(dir, file)).mode & 0o777).toBe(0o600);
    const written = statSync(path.join(dir, file)).mtimeMs;
    await c.status();
    expect(c.files()).toEqual([file]);
    expect(statSync(path.join(dir, file)).mtimeMs).toBe(written);
  }, 30000);

  it('is written again the first time another command runs, and holds both; then kept', async () => {
    // Written by the first command only, it would hold only that command's functions: what every other
    // command calls would be compiled on each run. The file ends with the commands it holds (JSON, then
    // its length in 4 bytes).
    const c = setup('grows');
    const commands = () => {
      const bytes = readFileSync(path.join(c.cache, 'localport', c.files()[0]));
      const n = bytes.readUInt32BE(bytes.length - 4);
      return JSON.parse(bytes.subarray(bytes.length - 4 - n, bytes.length - 4).toString()) as string[];
    };
    const r = await runCli(['config', 'validate'], { cwd: root, env: c.env });
    expect(r.code).toBe(0);
    const [file] = c.files();
    expect(commands()).toEqual(['config validate']);
    const full = path.join(c.cache, 'localport', file);
    const first = readFileSync(full);
    await c.status();
    expect(c.files()).toEqual([file]);
    expect(commands()).toEqual(['config validate', 'status']);
    const second = readFileSync(full);
    expect(second.equals(first)).toBe(false);
    const written = statSync(full).mtimeMs;
    await c.status();
    await runCli(['config', 'validate'], { cwd: root, env: c.env });
    expect(statSync(full).mtimeMs).toBe(written);
  }, 30000);

  it('is not written with NODE_DISABLE_COMPILE_CACHE=1', async () => {
    const c = setup('disabled');
    const r = await runCli(['status'], { cwd: root, env: { ...c.env, NODE_DISABLE_COMPILE_CACHE: '1' } });
    expect(r.stdout).toMatch(STATUS);
    expect(c.files()).toEqual([]);
  }, 30000);

  it('is neither read nor written in a directory that others can write to', async () => {
    const c = setup('shared');
    const dir = path.join(c.cache, 'localport');
    mkdirSync(dir, { recursive: true });
    chmodSync(dir, 0o777);
    await c.status();
    expect(c.files()).toEqual([]);
  }, 30000);

  it('is neither read nor written under a parent others can write to (not sticky): they could swap the directory', async () => {
    const c = setup('open-parent');
    mkdirSync(c.cache, { recursive: true });
    chmodSync(c.cache, 0o777);
    await c.status();
    expect(c.files()).toEqual([]);
    // The same parent, sticky like /tmp: others cannot rename what is ours in it.
    chmodSync(c.cache, 0o1777);
    await c.status();
    expect(c.files()).toHaveLength(1);
  }, 30000);

  // Node 22+ reads NODE_COMPILE_CACHE itself, before LocalPort runs: what it does there is Node's.
  const nodeReadsIt = Number(process.versions.node.split('.')[0]) >= 22;

  it.each([
    ['TMPDIR=/proc/self', { TMPDIR: '/proc/self', NODE_COMPILE_CACHE: undefined }],
    ['TMPDIR=/dev/fd (a link into /proc/self)', { TMPDIR: '/dev/fd', NODE_COMPILE_CACHE: undefined }],
    ...(nodeReadsIt ? [] : [['NODE_COMPILE_CACHE=/proc/self', { NODE_COMPILE_CACHE: '/proc/self' }], ['NODE_COMPILE_CACHE=/proc/self/cwd/x (the working directory)', { NODE_COMPILE_CACHE: '/proc/self/cwd/x' }]]),
    ['a relative NODE_COMPILE_CACHE', { NODE_COMPILE_CACHE: 'relative-cache' }],
    ['a relative TMPDIR', { TMPDIR: 'relative-tmp', NODE_COMPILE_CACHE: undefined }],
  ] as [string, NodeJS.ProcessEnv][])('%s: the command runs at once, without a cache, and makes nothing in the working directory', async (_what, vars) => {
    const cwd = mkdtempSync(path.join(root, 'cwd-'));
    const c = setup('special');
    // Node's recursive mkdir under /proc/self never returned: the command hung.
    const r = await runCli(['status', '-c', path.join(root, 'localport.yaml')], { cwd, env: { ...c.env, ...vars }, timeoutMs: 15000 });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
    expect(r.stdout).toMatch(STATUS);
    // Node 22+ may make its own NODE_COMPILE_CACHE directory; LocalPort's would be `localport` in it.
    const made = readdirSync(cwd, { recursive: true }).map(String);
    expect(made.filter((f) => !nodeReadsIt || f.split(path.sep).includes('localport') || f.startsWith('relative-tmp') || f.startsWith('x'))).toEqual([]);
  }, 30000);

  it('that does not fit the bundle (garbage under its name) is replaced, and the command works', async () => {
    const c = setup('garbage');
    await c.status();
    const [file] = c.files();
    const full = path.join(c.cache, 'localport', file);
    writeFileSync(full, Buffer.alloc(statSync(full).size, 7));
    await c.status();
    expect(c.files()).toEqual([file]);
    expect(readFileSync(full).equals(Buffer.alloc(statSync(full).size, 7))).toBe(false);
    await c.status();
  }, 30000);
});
