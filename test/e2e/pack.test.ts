import { execFile, execFileSync } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { linkNodeTypes, REPO, typecheck, writeGuide, writeUserProject } from '../helpers/guide.js';

// The package as npm ships it: `npm pack`, then `npm i ./localport-*.tgz` into a fresh project, as a user
// does. The pack runs on a copy of the sources (its prepack rebuilds dist/ from scratch, which must not
// happen under the other tests that run the repository's dist/ at the same time); node_modules is the
// repository's. Installing needs the npm registry for LocalPort's dependencies. About 20 s on an idle
// 2-core machine (most of it tsc's build and npm's install); the generous timeouts are for a loaded one.

// npm passes its whole configuration to scripts as npm_* variables (`npm test` runs this file); the npm
// calls below must read the user's configuration files themselves, as in a terminal.
const npmEnv = Object.fromEntries(Object.entries(process.env).filter(([k]) => !k.startsWith('npm_')));

function npm(args: string[], cwd: string, command = 'npm', env: NodeJS.ProcessEnv = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(command, args, { cwd, env: { ...npmEnv, ...env }, timeout: 90000, maxBuffer: 16 << 20 }, (err, stdout, stderr) =>
      resolve({ code: err ? (typeof err.code === 'number' ? err.code : 1) : 0, stdout, stderr }),
    );
  });
}

function registryReachable(): boolean {
  try {
    execFileSync('npm', ['ping'], { env: npmEnv, stdio: 'ignore', timeout: 20000 });
    return true;
  } catch {
    return false;
  }
}

const warnings = (text: string) => text.split('\n').filter((l) => /^npm (warn|WARN)\b/.test(l));

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-pack-'));
const source = path.join(root, 'source');
const unpacked = path.join(root, 'unpacked');
const consumer = path.join(root, 'consumer');
let tarball: string;
let packJson: Record<string, any>;
let manifestBefore: string;

afterAll(() => rmSync(root, { recursive: true, force: true }));

describe('the packed tarball', () => {
  beforeAll(async () => {
    // What npm would pack from a clone: everything but what .gitignore and "files" leave out anyway.
    const skip = new Set(['node_modules', 'dist', '.git', '.tmp', 'test', 'bench']);
    cpSync(REPO, source, { recursive: true, filter: (p) => path.dirname(path.resolve(p)) !== path.resolve(REPO) || !skip.has(path.basename(p)) });
    symlinkSync(path.join(REPO, 'node_modules'), path.join(source, 'node_modules'), 'dir');
    manifestBefore = readFileSync(path.join(source, 'package.json'), 'utf8');
    const packed = await npm(['pack', '--pack-destination', root], source);
    expect(packed.stderr).not.toMatch(/npm error/);
    expect(packed.code).toBe(0);
    const [name] = readdirSync(root).filter((f) => /^localport-.*\.tgz$/.test(f));
    tarball = path.join(root, name);
    mkdirSync(unpacked);
    execFileSync('tar', ['-xzf', tarball, '-C', unpacked]);
    packJson = JSON.parse(readFileSync(path.join(unpacked, 'package', 'package.json'), 'utf8'));
  }, 180000);

  const files = () => {
    const out: string[] = [];
    const walk = (d: string) =>
      readdirSync(d, { withFileTypes: true }).forEach((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : out.push(path.relative(path.join(unpacked, 'package'), path.join(d, e.name)))));
    walk(path.join(unpacked, 'package'));
    return out;
  };

  it('has a LICENSE, the built CLI and API, and no example preset', () => {
    const list = files();
    expect(list).toEqual(expect.arrayContaining(['LICENSE', 'README.md', 'package.json', 'dist/cli/bin.js', 'dist/index.js', 'dist/index.d.ts', 'dist/presets/default/index.js']));
    // The dashboard's page, which tsc does not emit (scripts/assets.mjs copies it).
    expect(list).toEqual(expect.arrayContaining(['dist/daemon/page/index.html', 'dist/daemon/page/dashboard.js', 'dist/daemon/page/dashboard.css', 'dist/daemon/page/favicon.svg']));
    expect(readFileSync(path.join(unpacked, 'package', 'LICENSE'), 'utf8')).toMatch(/^MIT License\n\nCopyright \(c\) \d{4} LocalPort contributors\n/);
    expect(list.filter((f) => f.includes('example-team'))).toEqual([]);
    // Only what "files" names, plus what npm always adds.
    expect(list.filter((f) => !f.startsWith('dist/') && !['LICENSE', 'README.md', 'package.json'].includes(f))).toEqual([]);
  });

  it('ships source maps that carry their sources', () => {
    const maps = files().filter((f) => f.endsWith('.js.map'));
    expect(maps.length).toBeGreaterThan(10);
    for (const f of maps) {
      const map = JSON.parse(readFileSync(path.join(unpacked, 'package', f), 'utf8'));
      // The .ts files are not in the package: a map without sourcesContent points at nothing.
      expect({ f, sources: map.sources.length, content: (map.sourcesContent ?? []).filter((s: unknown) => typeof s === 'string' && s.length > 0).length }).toEqual({
        f,
        sources: 1,
        content: 1,
      });
    }
  });

  it('ships the bundled CLI with a map that carries the TypeScript sources', () => {
    const list = files();
    expect(list).toEqual(expect.arrayContaining(['dist/cli/bundle.cjs', 'dist/cli/bundle.cjs.map', 'dist/cli/api.js', 'dist/cli/cached.js']));
    const map = JSON.parse(readFileSync(path.join(unpacked, 'package', 'dist/cli/bundle.cjs.map'), 'utf8')) as { sources: string[]; sourcesContent: string[] };
    const main = map.sources.indexOf('../../cli/main.ts');
    expect(main).toBeGreaterThanOrEqual(0);
    expect(map.sourcesContent[main]).toContain('function makeCli(');
  });

  it('carries no path of the machine that built it, in no shipped file', () => {
    // The pack built in `source`: its absolute path must appear nowhere (a map's sources, a module's name).
    const leaks = files().filter((f) => readFileSync(path.join(unpacked, 'package', f), 'latin1').includes(source));
    expect(leaks).toEqual([]);
  });

  it('declares no prepare script, and names its repository, homepage, bugs and keywords', () => {
    // A tarball's `prepare` is an install script to npm 11 (it warns), and could not build without the sources.
    expect(packJson.scripts.prepare).toBeUndefined();
    expect(packJson.repository).toEqual({ type: 'git', url: expect.stringMatching(/^git\+https:\/\/github\.com\/.+\.git$/) });
    expect(packJson.homepage).toMatch(/^https:\/\//);
    expect(packJson.bugs.url).toMatch(/^https:\/\/.+\/issues$/);
    expect(packJson.keywords).toEqual(expect.arrayContaining(['port-forward', 'kubectl', 'ssh']));
    expect(packJson.license).toBe('MIT');
  });

  it('leaves package.json as it was, prepare included (postpack restores it)', () => {
    expect(readFileSync(path.join(source, 'package.json'), 'utf8')).toBe(manifestBefore);
    expect(JSON.parse(manifestBefore).scripts.prepare).toBe('npm run build');
    expect(existsSync(path.join(source, '.tmp', 'package.json.before-pack'))).toBe(false);
  });
});

const online = registryReachable();
if (!online) {
  const reason = 'the npm registry is unreachable (`npm ping` failed), so the packed tarball cannot be installed with its dependencies';
  if (process.env.CI) {
    describe('installing the packed tarball', () => {
      it('needs the npm registry', () => {
        throw new Error(`CI is set but ${reason}`);
      });
    });
  } else process.stderr.write(`\n*** SKIPPED: ${reason}: "installing the packed tarball"\n\n`);
}

(online ? describe : describe.skip)('installing the packed tarball into a fresh project', () => {
  let baseline: string[];
  let install: { code: number; stdout: string; stderr: string };

  beforeAll(async () => {
    mkdirSync(consumer);
    // What npm itself warns about on this machine whatever it installs (its own configuration, say).
    const init = await npm(['init', '-y'], consumer);
    expect(init.code).toBe(0);
    baseline = warnings(init.stdout + init.stderr);
    install = await npm(['i', tarball], consumer);
  }, 180000);

  it('prints no warning', () => {
    expect(install.code).toBe(0);
    expect(warnings(install.stdout + install.stderr).filter((w) => !baseline.includes(w))).toEqual([]);
    expect(install.stdout + install.stderr).toMatch(/added \d+ packages?/);
  });

  it('runs `npx localport --help`', async () => {
    const r = await npm(['localport', '--help'], consumer, 'npx');
    expect(r.stderr.split('\n').filter((l) => l && !baseline.includes(l))).toEqual([]);
    expect(r.stdout).toMatch(/\$ localport /);
    expect(r.code).toBe(0);
  });

  it('runs `npx localport config validate` on a TypeScript config that imports from localport (the bundle, and jiti from node_modules)', async () => {
    const dir = path.join(consumer, 'ts-config');
    mkdirSync(dir);
    writeFileSync(
      path.join(dir, 'localport.config.ts'),
      "import { defineConfig } from 'localport';\nexport default defineConfig({ services: [{ name: 'db', technology: 'ssh', local_port: 15432, remote_port: 5432, connection: { host: 'bastion' } }] });\n",
    );
    const r = await npm(['localport', 'config', 'validate'], dir, 'npx', { LOCALPORT_STATE_DIR: path.join(dir, 'state'), NODE_COMPILE_CACHE: path.join(root, 'compile-cache') });
    expect(r.stderr.split('\n').filter((l) => l && !baseline.includes(l))).toEqual([]);
    expect(r.stdout).toContain('valid, 1 service');
    expect(r.code).toBe(0);
  });

  it("serves the dashboard's page and assets from the installed package (`npx localport ui`)", async () => {
    const dir = path.join(consumer, 'dashboard');
    mkdirSync(dir);
    writeFileSync(path.join(dir, 'localport.yaml'), 'services:\n  - name: db\n    technology: tcp\n    local_port: 1\n    remote_port: 5432\n    connection: { host: 127.0.0.1 }\n');
    const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state') };
    try {
      const r = await npm(['localport', 'ui', '--no-open', '--output', 'json'], dir, 'npx', env);
      expect(r.code).toBe(0);
      const url = new URL((JSON.parse(r.stdout) as { url: string }).url);
      for (const [file, type, marker] of [['', 'text/html', 'dashboard.js?token='], ['dashboard.js', 'text/javascript', 'EventSource'], ['dashboard.css', 'text/css', 'prefers-color-scheme']]) {
        const res = await fetch(new URL(`/${file}${url.search}`, url));
        expect({ file, status: res.status, type: res.headers.get('content-type')?.split(';')[0] }).toEqual({ file, status: 200, type });
        expect(await res.text()).toContain(marker);
      }
    } finally {
      await npm(['localport', 'daemon', 'stop'], dir, 'npx', env);
    }
  }, 60000);

  it('type-checks the plugin guide against the installed package under NodeNext', async () => {
    const dir = path.join(consumer, 'guide');
    mkdirSync(dir);
    writeUserProject(dir);
    linkNodeTypes(dir);
    const origin = writeGuide(dir);
    const { code, output } = await typecheck(dir);
    expect(output.replace(/src\/([\w.-]+\.ts)/g, (m, f: string) => `${m} (${origin.get(f) ?? '?'})`)).toBe('');
    expect(code).toBe(0);
  }, 60000);
});
