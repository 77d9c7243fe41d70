import { chmodSync, copyFileSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { BIN, hasStack, runCli } from '../helpers/cli.js';
import { describeWithPeer } from '../helpers/peers.js';
import { freePort } from '../helpers/net.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-config-'));
const env = { LOCALPORT_STATE_DIR: path.join(root, 'state') };
afterAll(() => rmSync(root, { recursive: true, force: true }));

function write(name: string, text: string): string {
  const file = path.join(root, name);
  writeFileSync(file, text);
  return file;
}

const svc = (name: string, port: number, extra = '') =>
  `  - name: ${name}\n    technology: ssh\n    local_port: ${port}\n    remote_port: 80\n    connection:\n      host: bastion\n${extra}`;

describe('localport --help and --version', () => {
  it('prints help listing the commands, without colour codes when piped', async () => {
    const r = await runCli(['--help'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('localport run');
    expect(r.stdout).toContain('localport config validate');
    expect(r.stdout).toContain('localport config print');
    expect(r.stdout).not.toContain('\x1b[');
  });

  it('prints the version', async () => {
    const r = await runCli(['--version'], { env });
    expect(r.stdout.trim()).toBe('0.1.0');
  });

  it('treats an unknown command as a usage error (exit 2)', async () => {
    const r = await runCli(['frobnicate'], { env });
    expect(r.code).toBe(2);
    expect(hasStack(r.stderr + r.stdout)).toBe(false);
  });
});

describe('localport config validate', () => {
  const seed = path.join(root, 'seed.yaml');
  copyFileSync(new URL('../fixtures/seed-localport.yaml', import.meta.url), seed);

  it('validates the original LocalPort sample once its variables are set', async () => {
    const r = await runCli(['config', 'validate', '--config', seed], { env: { ...env, POSTGRES_PASSWORD: 'x' } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toContain(`${seed}: valid, 3 services (3 enabled)`);
  });

  it('accepts global options before the command, as the original CLI did', async () => {
    const r = await runCli(['--config', seed, '--output', 'json', 'config', 'validate'], { env: { ...env, POSTGRES_PASSWORD: 'x' } });
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout)).toEqual({
      schemaVersion: 1,
      valid: true,
      file: seed,
      services: [
        { name: 'postgres', technology: 'kubectl', enabled: true },
        { name: 'kafka', technology: 'kubectl', enabled: true },
        { name: 'redis', technology: 'ssh', enabled: true },
      ],
    });
  });

  it('names the missing variable and the service', async () => {
    const r = await runCli(['config', 'validate', '-c', seed], { env: { ...env, POSTGRES_PASSWORD: '' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: ${seed}: services[0] (postgres).health_check.config.password: environment variable POSTGRES_PASSWORD is not set`);
    expect(hasStack(r.stderr)).toBe(false);
  });

  const cases: [string, string, string[] | (() => string[]), RegExp][] = [
    ['YAML syntax error', 'services:\n  - name: a\n   technology: [ssh\n', [], /syntax\.yaml:\d+:\d+: YAML syntax error: /],
    ['unknown technology', `services:\n${svc('a', 1).replace('technology: ssh', 'technology: kubctl')}`, [], /tech\.yaml: services\[0\] \(a\)\.technology: unknown technology 'kubctl'; registered: exec, kubectl, ssh, tcp; did you mean 'kubectl'\?$/m],
    ['port 70000', `services:\n${svc('a', 70000)}`, [], /port\.yaml: services\[0\] \(a\)\.local_port: must be between 1 and 65535 \(got 70000\)$/m],
    ['duplicate service name', `services:\n${svc('a', 1)}${svc('a', 2)}`, [], /dup-name\.yaml: services\[1\] \(a\): duplicate service name 'a'/],
    ['duplicate local port', `services:\n${svc('a', 1)}${svc('b', 1)}`, [], /dup-port\.yaml: services\[1\] \(b\)\.local_port: local port 1 is also used by service 'a'/],
    ['missing connection.host', 'services:\n  - name: a\n    technology: ssh\n    local_port: 1\n    remote_port: 2\n    connection:\n      user: x\n', [], /host\.yaml: services\[0\] \(a\)\.connection\.host: is required$/m],
  ];

  it.each(cases)('%s: one line per problem with file and key path, exit 2, no stack', async (label, text, _x, expected) => {
    const file = write(`${{ 'YAML syntax error': 'syntax', 'unknown technology': 'tech', 'port 70000': 'port', 'duplicate service name': 'dup-name', 'duplicate local port': 'dup-port', 'missing connection.host': 'host' }[label]}.yaml`, text);
    const r = await runCli(['config', 'validate', '-c', file], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(expected);
    expect(r.stderr).toContain(file);
    expect(hasStack(r.stderr)).toBe(false);
    expect(r.stdout).toBe('');
  });

  it('lists several problems one per line', async () => {
    const file = write('many.yaml', `services:\n${svc('a', 70000)}${svc('a', 2).replace('technology: ssh', 'technology: nope')}`);
    const r = await runCli(['config', 'validate', '-c', file], { env });
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')).toEqual([
      'error: 3 problems',
      `  ${file}: services[0] (a).local_port: must be between 1 and 65535 (got 70000)`,
      `  ${file}: services[1] (a).technology: unknown technology 'nope'; registered: exec, kubectl, ssh, tcp`,
      `  ${file}: services[1] (a): duplicate service name 'a'; service names must be unique`,
      '',
    ]);
  });

  it('says a non-existent --config does not exist', async () => {
    const r = await runCli(['config', 'validate', '--config', path.join(root, 'missing.yaml')], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: --config: config file not found: ${path.join(root, 'missing.yaml')}`);
    expect(hasStack(r.stderr)).toBe(false);
  });

  it('names an unknown service on the command line and lists the configured ones', async () => {
    const file = write('names.yaml', `services:\n${svc('api', 1)}${svc('db', 2)}`);
    const r = await runCli(['run', 'dbb', '-c', file, '--', 'true'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain(`error: unknown service 'dbb' in ${file}; configured: api, db`);
    expect(hasStack(r.stderr)).toBe(false);
  });

  it('among 2,000 services, an unknown name lists the closest ten and how many more, not all 2,000 (it was 130 KB)', async () => {
    const services = Array.from({ length: 2000 }, (_, i) => `  - { name: svc-${String(i).padStart(4, '0')}, technology: tcp, local_port: ${20000 + i}, remote_port: 80, connection: { host: h${i} }, tags: [t${i}] }\n`);
    const file = write('many.yaml', `services:\n${services.join('')}`);
    const r = await runCli(['status', 'svc-0421x', '-c', file], { env });
    expect(r.code).toBe(2);
    expect(r.stderr.split('\n')[0]).toMatch(new RegExp(`^error: unknown service 'svc-0421x' in ${file.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}; configured: svc-0421, (svc-\\d{4}, ){8}svc-\\d{4} and 1990 more; did you mean 'svc-0421'\\?$`));
    expect(r.stderr.length).toBeLessThan(1000);
    const tag = await runCli(['run', '-t', 't42x', '-c', file, '--', 'true'], { env });
    expect(tag.code).toBe(2);
    expect(tag.stderr).toMatch(/tags in use: t42, .* and 1990 more; did you mean 't42'\?/);
    expect(tag.stderr.length).toBeLessThan(1000);
  });

  it('reports errors as JSON with --output json', async () => {
    const file = write('json-err.yaml', `services:\n${svc('a', 70000)}`);
    const r = await runCli(['config', 'validate', '-c', file, '--output', 'json'], { env });
    expect(r.code).toBe(2);
    const body = JSON.parse(r.stdout);
    expect(body.error.code).toBe('CONFIG_INVALID');
    expect(body.error.problems).toEqual([{ file, path: 'services[0] (a).local_port', message: 'must be between 1 and 65535 (got 70000)' }]);
  });
});

describe('secrets', () => {
  const SECRET = 'tok-7f3a9c-very-secret';

  it('are redacted in config print, table and JSON', async () => {
    const file = write('secret.yaml', `services:\n${svc('a', 1)}      options:\n        SetEnv: "LP_TOKEN=\${LP_TOKEN}"\n    health_check:\n      type: postgres\n      config:\n        password: \${LP_TOKEN}\n`);
    for (const output of ['table', 'json']) {
      const r = await runCli(['config', 'print', '-c', file, '--output', output], { env: { ...env, LP_TOKEN: SECRET } });
      expect(r.code).toBe(0);
      expect(r.stdout).not.toContain(SECRET);
      expect(r.stdout).toContain('LP_TOKEN=***');
    }
    const json = JSON.parse((await runCli(['config', 'print', '-c', file, '--json'], { env: { ...env, LP_TOKEN: SECRET } })).stdout);
    expect(json.config.services[0].healthCheck.config.password).toBe('***');
  });

  it('are redacted in errors', async () => {
    const file = write('secret-port.yaml', `services:\n${svc('a', 1).replace('local_port: 1', 'local_port: ${BAD_PORT}')}`);
    const r = await runCli(['config', 'validate', '-c', file], { env: { ...env, BAD_PORT: '987654' } });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('local_port: must be between 1 and 65535 (got ***)');
    expect(r.stderr).not.toContain('987654');
  });
});

describe('the example localport.config.ts', () => {
  it('validates, loaded through jiti with `import … from "localport"`', async () => {
    const file = new URL('../../localport.config.ts', import.meta.url).pathname;
    const r = await runCli(['config', 'validate', '-c', file, '--json'], { env });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(JSON.parse(r.stdout).services).toEqual([
      { name: 'db', technology: 'kubectl', enabled: true },
      { name: 'api', technology: 'ssh', enabled: true },
    ]);
  });
});

describe("a .ts config's transpiled code is cached only where nobody else can write", () => {
  it('caches it in the state directory (0700), never in the shared temp directory; a changed config is transpiled again; a cache directory others can write to, a link, or one under a parent others can write to is not used', async () => {
    const project = mkdtempSync(path.join(root, 'ts-cache-'));
    const tmp = mkdtempSync(path.join(root, 'tmpdir-'));
    const state = path.join(project, 'state');
    const file = path.join(project, 'localport.config.ts');
    const service = (name: string, i = 0) => `{ name: '${name}', technology: 'ssh', local_port: ${15432 + i}, remote_port: 5432, connection: { host: 'bastion' } }`;
    const config = (...names: string[]) => `import { defineConfig } from 'localport';\nexport default defineConfig({ services: [${names.map((n, i) => service(n, i)).join(', ')}] });\n`;
    const names = async (stateDir = state) => {
      const r = await runCli(['config', 'validate', '-c', file, '--json'], { env: { LOCALPORT_STATE_DIR: stateDir, TMPDIR: tmp } });
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      return (JSON.parse(r.stdout).services as { name: string }[]).map((s) => s.name);
    };
    writeFileSync(file, config('db'));
    expect(await names()).toEqual(['db']);
    const cache = path.join(state, 'cache', 'jiti');
    expect(statSync(cache).mode & 0o777).toBe(0o700);
    const [cached] = readdirSync(cache);
    expect(readFileSync(path.join(cache, cached), 'utf8')).toMatch(/\/\* v\d+-[0-9a-f]{16} \*\/\n$/);
    expect(existsSync(path.join(tmp, 'jiti'))).toBe(false);
    // Changed: transpiled again, not the first version from the cache.
    writeFileSync(file, config('db', 'web'));
    expect(await names()).toEqual(['db', 'web']);
    // What is in the cache runs: code put there with the source's hash is what the config becomes. So
    // the directory must be this user's alone.
    const text = readFileSync(path.join(cache, cached), 'utf8');
    writeFileSync(path.join(cache, cached), `exports.default = { services: [${service('planted')}] };${text.slice(text.lastIndexOf(' /* v'))}`);
    expect(await names()).toEqual(['planted']);
    // Readable by others only: used, and made 0700 again (what is cached is the user's code).
    chmodSync(cache, 0o755);
    expect(await names()).toEqual(['planted']);
    expect(statSync(cache).mode & 0o777).toBe(0o700);
    chmodSync(cache, 0o770);
    expect(await names()).toEqual(['db', 'web']);
    expect(statSync(cache).mode & 0o777).toBe(0o770);
    // Nor a cache directory that is a link to somewhere else.
    rmSync(cache, { recursive: true });
    mkdirSync(path.join(project, 'elsewhere'), { mode: 0o700 });
    const { symlinkSync } = await import('node:fs');
    symlinkSync(path.join(project, 'elsewhere'), cache);
    expect(await names()).toEqual(['db', 'web']);
    expect(readdirSync(path.join(project, 'elsewhere'))).toEqual([]);
    // Nor one under a parent others can write to (and so rename the cache away and put theirs there).
    const shared = path.join(project, 'shared');
    mkdirSync(shared);
    chmodSync(shared, 0o777);
    expect(await names(path.join(shared, 'state'))).toEqual(['db', 'web']);
    expect(readdirSync(path.join(shared, 'state', 'cache', 'jiti'))).toEqual([]);
  }, 60_000);
});

describe('localport config export', () => {
  it('writes the original format (snake_case list), filtered by tag, with ${VAR} as written (never a value, never ***)', async () => {
    const file = write('export.yaml', `services:\n${svc('a', 1, '    tags: [db]\n')}${svc('b', 2).replace('host: bastion', 'host: \${BASTION}').replace('local_port: 2', 'local_port: "\${B_PORT:2}"')}`);
    const all = await runCli(['config', 'export', '-c', file, '--json'], { env: { ...env, BASTION: 'secret-bastion-host' } });
    expect(all.code).toBe(0);
    const data = JSON.parse(all.stdout);
    expect(data.services.map((s: { name: string }) => s.name)).toEqual(['a', 'b']);
    expect(data.services[0]).toMatchObject({ local_port: 1, remote_port: 80, connection: { host: 'bastion', remote_host: 'localhost' }, restart_policy: { initial_delay: 0.1, backoff_multiplier: 1.5, reset_after: 1 } });
    expect(data.services[1].connection.host).toBe('${BASTION}');
    expect(data.services[1].local_port).toBe('${B_PORT:2}');
    expect(all.stdout).not.toContain('secret-bastion-host');
    expect(all.stdout).not.toContain('***');
    // The round trip: the export loads again, and with the variable set it resolves to the same services.
    const yamlExport = await runCli(['config', 'export', '-c', file], { env: { ...env, BASTION: 'secret-bastion-host' } });
    const back = write('exported-all.yaml', yamlExport.stdout);
    const printed = async (f: string) => JSON.parse((await runCli(['config', 'print', '-c', f, '--json'], { env: { ...env, BASTION: 'bastion-2' } })).stdout).config.services;
    expect(await printed(back)).toEqual(await printed(file));
    // YAML is the default; `-o yaml` may say so (any other format is a usage error, see bad-configs).
    const tagged = await runCli(['config', 'export', '-c', file, '--tag', 'db', '-o', 'yaml'], { env: { ...env, BASTION: 'x' } });
    expect(tagged.stdout).toMatch(/^# exported by localport config export/);
    expect(tagged.stdout).toContain('- name: a');
    expect(tagged.stdout).not.toContain('name: b');
    // What it exports loads again.
    const again = write('exported.yaml', tagged.stdout);
    expect((await runCli(['config', 'validate', '-c', again], { env })).code).toBe(0);
  });

  it('$${VAR} is a literal ${VAR}: resolved as such, exported as written, and the export resolves the same', async () => {
    const file = write('escape.yaml', `services:\n${svc('a', 1).replace('host: bastion', () => 'host: bastion\n      options: { SetEnv: "TOKEN=$\${TOKEN}" }')}`);
    const run = (...args: string[]) => runCli([...args, '-c', file], { env: { ...env, TOKEN: 'not-this' } });
    const printed = async (f: string) => JSON.parse((await runCli(['config', 'print', '-c', f, '--json'], { env: { ...env, TOKEN: 'not-this' } })).stdout).config.services[0].connection.options;
    expect(await printed(file)).toEqual({ SetEnv: 'TOKEN=${TOKEN}' });
    const exported = await run('config', 'export');
    expect(exported.code).toBe(0);
    expect(exported.stdout).toContain('SetEnv: TOKEN=$${TOKEN}');
    expect(exported.stdout).not.toContain('not-this');
    expect(await printed(write('escape-back.yaml', exported.stdout))).toEqual({ SetEnv: 'TOKEN=${TOKEN}' });
  });
});

describe('the example team preset in presets/example-team', () => {
  it('validates when a project extends it by path, its services marked with the preset name', async () => {
    const preset = new URL('../../presets/example-team/index.ts', import.meta.url).pathname;
    const file = write('team.yaml', `extends: ["${path.relative(root, preset)}"]\nservices:\n  - name: postgres\n    local_port: 15432\n${svc('api', 8080)}`);
    const r = await runCli(['config', 'print', '-c', file, '--json'], { env: { ...env, ACME_PG_PASSWORD: 'pw-xyz-secret' } });
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const services = JSON.parse(r.stdout).config.services as { name: string; source: string; localPort: number; enabled: boolean }[];
    expect(services.map((s) => [s.name, s.source, s.localPort, s.enabled])).toEqual([
      ['postgres', '@acme/localport-preset + local', 15432, true],
      ['redis', '@acme/localport-preset', 6379, true],
      ['kafka', '@acme/localport-preset', 9092, false],
      ['api', 'local', 8080, true],
    ]);
    expect(r.stdout).not.toContain('pw-xyz-secret');
  });
});

describe('run fails fast', () => {
  it('stops waiting for the other services once one has failed', async () => {
    const [slowPort, brokenPort] = [await freePort(), await freePort()];
    const file = write(
      'fail-fast.yaml',
      `services:
  - name: slow
    technology: exec
    local_port: ${slowPort}
    remote_port: 1
    connection: { command: sleep, args: ["30"], ready_pattern: "never printed" }
  - name: broken
    technology: exec
    local_port: ${brokenPort}
    remote_port: 1
    connection: { command: sh, args: ["-c", "echo 'tunnel refused: no route' >&2; exit 3"] }
`,
    );
    const t0 = Date.now();
    const r = await runCli(['run', '-c', file, '--', 'true'], { env });
    expect(r.code).toBe(1);
    expect(Date.now() - t0).toBeLessThan(5000);
    // Off a terminal, one line each: the label once, the service's name once, then the reason.
    expect(r.stderr).toContain('[FAILED] service broken: exec process exited with code 3: tunnel refused: no route\n');
    expect(r.stderr).toContain('[SKIPPED] slow: not waited for: broken failed\n');
    expect(r.stderr).not.toMatch(/\[(FAILED|SKIPPED):/);
    expect(r.stderr).toMatch(/1 of 2 services could not start \(broken\)/);
  });
});

describe('a reader that goes away', () => {
  it('ends quietly when stdout is closed early (`localport status | head -1`), as a bug it is not', async () => {
    const { spawn } = await import('node:child_process');
    const { BIN } = await import('../helpers/cli.js');
    const services = (await Promise.all(Array.from({ length: 300 }, async (_, i) => svc(`s${i}`, await freePort())))).join('');
    const file = write('epipe.yaml', `services:\n${services}`);
    // The read end is closed before the CLI writes its 300-row table: every write fails with EPIPE.
    const child = spawn(process.execPath, [BIN, '--config', file, 'status'], { env: { ...process.env, ...env, NO_COLOR: '1' }, stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout!.destroy();
    let stderr = '';
    child.stderr!.setEncoding('utf8').on('data', (c: string) => (stderr += c));
    const code = await new Promise<number | null>((resolve) => child.on('close', (c) => resolve(c)));
    expect(stderr).toBe('');
    expect(code).toBe(0);
  });
});

describe('durations on the command line', () => {
  it('takes 500ms, 30s, 2m as well as plain seconds, and refuses anything else as a usage error', async () => {
    const file = write('durations.yaml', `services:\n${svc('web', await freePort())}`);
    for (const value of ['500ms', '30s', '2m', '1.5']) {
      const r = await runCli(['--config', file, 'status', '--interval', value], { env });
      expect([value, r.code]).toEqual([value, 0]);
    }
    const bad = await runCli(['--config', file, 'status', '--interval', '2 weeks'], { env });
    expect(bad.code).toBe(2);
    expect(bad.stderr).toContain("--interval must be a number of seconds above 0 and at most 2147483.647 (about 24.8 days, the longest a timer can wait), or a duration such as 500ms, 30s or 2m (got '2 weeks')");
  });
});


// Where LocalPort can make no empty directory of its own for that search (state and temp directories
// read-only, here /tmp remounted read-only in a mount namespace of the test's own, which needs root and
// unshare(1)), the search must still not fall back to the working directory.
const canUnshare = process.getuid?.() === 0 && ['/usr/bin/unshare', '/bin/unshare'].some((p) => existsSync(p));
describeWithPeer('root and unshare(1) (util-linux), to make /tmp read-only for one command', canUnshare, "cosmiconfig's meta config with no private directory to be had", () => {
  it('is still not read from the working directory', async () => {
    const { execFile } = await import('node:child_process');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-meta-ro-'));
    try {
      mkdirSync(path.join(dir, '.config'));
      writeFileSync(path.join(dir, '.config', 'config.js'), "process.stderr.write('META CONFIG RAN\\n'); module.exports = {};\n");
      writeFileSync(path.join(dir, 'lp.yaml'), 'services:\n  - { name: a, technology: tcp, local_port: 15998, remote_port: 80, connection: { host: 127.0.0.1 } }\n');
      const { XDG_RUNTIME_DIR: _x, TMPDIR: _t, NODE_COMPILE_CACHE: _n, ...rest } = process.env;
      // "$@" keeps the command an argument list: nothing in it is read by the shell.
      const script = 'mount --bind /tmp /tmp && mount -o remount,ro,bind /tmp && touch /tmp/lp-writable 2>/dev/null && exit 9; exec "$@"';
      const r = await new Promise<{ code: number | null; stdout: string; stderr: string }>((resolve) => {
        execFile('unshare', ['-m', '--', 'sh', '-c', script, 'sh', process.execPath, BIN, 'config', 'validate', '-c', 'lp.yaml'], { cwd: dir, env: { ...rest, LOCALPORT_STATE_DIR: path.join(dir, 'state') } }, (error, stdout, stderr) =>
          resolve({ code: error ? ((error as { code?: number }).code ?? 1) : 0, stdout, stderr }),
        );
      });
      // The config is never run; the command then stops where it needs the (read-only) state directory,
      // with a line that says so (it was a stack).
      expect(r.stderr).not.toContain('META CONFIG RAN');
      expect({ code: r.code, stderr: r.stderr }).toEqual({
        code: 1,
        stderr: `error: cannot write the log file ${path.join(dir, 'state', 'logs', 'localport.log')}: EROFS (${dir})\nhint: Set LOCALPORT_STATE_DIR to a directory of yours that can be written.\n`,
      });
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe("cosmiconfig's own meta config in the working directory", () => {
  it('is never read: a .config/config.js there does not run, a broken package.json there breaks nothing', async () => {
    const { existsSync, mkdirSync } = await import('node:fs');
    const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-meta-'));
    try {
      mkdirSync(path.join(dir, '.config'));
      const marker = path.join(dir, 'RAN');
      writeFileSync(path.join(dir, '.config', 'config.js'), `require('fs').writeFileSync(${JSON.stringify(marker)}, 'x'); module.exports = {};\n`);
      writeFileSync(path.join(dir, 'package.json'), '{ "name": "x",');
      writeFileSync(path.join(dir, 'lp.yaml'), 'services:\n  - { name: a, technology: tcp, local_port: 15998, remote_port: 80, connection: { host: 127.0.0.1 } }\n');
      const r = await runCli(['config', 'validate', '-c', 'lp.yaml'], { cwd: dir, env: { ...process.env, LOCALPORT_STATE_DIR: path.join(dir, 'state') } });
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(existsSync(marker)).toBe(false);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
