import { spawn } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it, test } from '@jest/globals';
import { BIN, runCli } from '../helpers/cli.js';

/**
 * The corpus of bad inputs (test/fixtures/bad-configs/README.md): one directory per case, holding the
 * config file(s) and a case.json. Every directory is a case, so a case added there is run without
 * touching this file. Each runs the built CLI in its directory, as a user would, and must end with the
 * expected exit code, name what is wrong (file, key or service), print no stack, and be quick about it.
 */
const corpus = fileURLToPath(new URL('../fixtures/bad-configs/', import.meta.url));
const names = readdirSync(corpus, { withFileTypes: true })
  .filter((d) => d.isDirectory())
  .map((d) => d.name)
  .sort();

interface Case {
  args: string[];
  exit: number;
  mentions: string[];
  maxMs?: number;
  env?: Record<string, string>;
}

const state = mkdtempSync(path.join(os.tmpdir(), 'lp-bad-configs-'));
const cleanup = [state];
afterAll(() => cleanup.forEach((dir) => rmSync(dir, { recursive: true, force: true })));

const STACK = /\n\s+at /;
/** What a terminal would act upon (C0 but tab and newline, DEL, C1): quoted input must arrive shown, not raw. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;

/** How oversubscribed the cores are now (1 when idle, at most 5): 1-minute load average per core. */
const loadFactor = () => Math.min(5, Math.max(1, os.loadavg()[0] / os.availableParallelism()));

const slots = { free: Math.max(1, os.availableParallelism()), waiting: [] as (() => void)[] };
async function slot(): Promise<() => void> {
  if (slots.free > 0) slots.free--;
  else await new Promise<void>((r) => slots.waiting.push(r));
  return () => {
    const next = slots.waiting.shift();
    if (next) next();
    else slots.free++;
  };
}

describe('the bad-config corpus', () => {
  it('holds at least 40 cases, each with a case.json that names what to look for', () => {
    expect(names.length).toBeGreaterThanOrEqual(40);
    for (const name of names) {
      const c = JSON.parse(readFileSync(path.join(corpus, name, 'case.json'), 'utf8')) as Case;
      expect({ name, args: Array.isArray(c.args), exit: typeof c.exit, mentions: c.mentions?.length > 0 }).toEqual({ name, args: true, exit: 'number', mentions: true });
    }
  });

  // Concurrent, one CLI per core at most: the file takes seconds, and a case's time is its own, not
  // time spent queued behind the others.
  test.concurrent.each(names)('%s', async (name) => {
    const dir = path.join(corpus, name);
    const c = JSON.parse(readFileSync(path.join(dir, 'case.json'), 'utf8')) as Case;
    const release = await slot();
    // The bound is for hangs and blow-ups (an alias bomb ran 133 s): maxMs on an idle machine, stretched
    // by the load when other work shares the cores, so a busy machine does not fail a quick case.
    const maxMs = (c.maxMs ?? 3000) * loadFactor();
    const t0 = Date.now();
    const r = await runCli(c.args, { cwd: dir, env: { LOCALPORT_STATE_DIR: path.join(state, name), ...c.env }, timeoutMs: maxMs + 5000 }).finally(release);
    const ms = Date.now() - t0;
    const out = `${r.stdout}${r.stderr}`;
    // One object, so a failure shows the whole output next to what was expected.
    expect({ exit: r.code, out }).toEqual({ exit: c.exit, out: expect.any(String) });
    for (const mention of c.mentions) expect(out).toContain(mention);
    expect(out).not.toMatch(STACK);
    expect(out).not.toMatch(CONTROL);
    expect(ms).toBeLessThan(maxMs);
  }, 120_000);
});

describe('an unreadable config', () => {
  // Git keeps no mode 000, so this case builds its file here. Root reads any file whatever its mode:
  // as root the CLI runs as `nobody`, for whom the file is as unreadable as it is for its owner's peers.
  it('is reported as unreadable (EACCES), naming the file, not as a YAML syntax error nor skipped for the parent\'s', async () => {
    // Not under `state` (0700): as `nobody`, the CLI must reach this directory.
    const parent = mkdtempSync(path.join(os.tmpdir(), 'lp-eacces-'));
    cleanup.push(parent);
    const config = 'services:\n  - name: web\n    technology: ssh\n    local_port: 8080\n    remote_port: 80\n    connection: { host: bastion }\n';
    writeFileSync(path.join(parent, 'localport.yaml'), config);
    const dir = path.join(parent, 'app');
    mkdirSync(dir);
    for (const d of [parent, dir]) chmodSync(d, 0o755);
    chmodSync(path.join(parent, 'localport.yaml'), 0o644);
    const file = path.join(dir, 'localport.yaml');
    writeFileSync(file, config);
    chmodSync(file, 0o000);
    const stateDir = path.join(parent, 'state');
    mkdirSync(stateDir, { mode: 0o700 });
    const asRoot = process.getuid?.() === 0;
    if (asRoot) chownSync(stateDir, 65534, 65534);
    const r = await new Promise<{ code: number | null; out: string }>((resolve) => {
      const child = spawn(process.execPath, [BIN, 'config', 'validate'], {
        cwd: dir,
        env: { ...process.env, NO_COLOR: '1', LOCALPORT_STATE_DIR: stateDir, HOME: stateDir, XDG_RUNTIME_DIR: '' },
        stdio: ['ignore', 'pipe', 'pipe'],
        ...(asRoot ? { uid: 65534, gid: 65534 } : {}),
      });
      let out = '';
      child.stdout.on('data', (d: Buffer) => (out += d));
      child.stderr.on('data', (d: Buffer) => (out += d));
      const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
      child.on('close', (code) => {
        clearTimeout(timer);
        resolve({ code, out });
      });
    });
    expect(existsSync(file)).toBe(true);
    expect({ code: r.code, out: r.out }).toEqual({ code: 2, out: expect.stringContaining(`${file}: cannot read the config file: permission denied (EACCES)`) });
    expect(r.out).not.toContain('YAML syntax error');
    expect(r.out).not.toMatch(STACK);
  });
});
