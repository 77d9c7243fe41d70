import { execFile } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { BIN, runCli } from '../helpers/cli.js';
import { describeWithPeer } from '../helpers/peers.js';

// Shell completion against a fixture config, through the real shells: bash, zsh and fish each source
// `localport completion SHELL` and complete as a user's Tab would.

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-completion-'));
writeFileSync(
  path.join(root, 'localport.yaml'),
  `services:
  - { name: postgres, technology: tcp, local_port: 15432, remote_port: 5432, tags: [db], connection: { host: 10.0.0.5 } }
  - { name: redis, technology: tcp, local_port: 16379, remote_port: 6379, tags: [cache], connection: { host: 10.0.0.6 } }
  - { name: api, technology: ssh, local_port: 18080, remote_port: 80, tags: [web], connection: { host: bastion, user: "\${UNSET_VAR}" } }
`,
);
// `localport` on PATH, as after `npm i -g`: a two-line shim to this build.
const bin = path.join(root, 'bin');
const shim = path.join(bin, 'localport');
mkdirSync(bin);
writeFileSync(shim, `#!/bin/sh\nexec '${process.execPath}' '${BIN}' "$@"\n`);
chmodSync(shim, 0o755);
const env = { ...process.env, PATH: `${bin}:${process.env.PATH}`, LOCALPORT_STATE_DIR: path.join(root, 'state'), NO_COLOR: '1' };
afterAll(() => rmSync(root, { recursive: true, force: true }));

const sh = (cmd: string, args: string[]) =>
  new Promise<string>((resolve, reject) =>
    execFile(cmd, args, { cwd: root, env, encoding: 'utf8', timeout: 20000 }, (err, stdout, stderr) => (err ? reject(new Error(`${cmd}: ${err.message}\n${stderr}`)) : resolve(stdout))),
  );
const lines = (s: string) => s.split('\n').filter(Boolean).sort();

describe('localport __complete (what every script asks)', () => {
  const complete = async (...words: string[]) => {
    const r = await runCli(['__complete', String(words.length - 1), ...words], { cwd: root, env });
    expect(r.code).toBe(0);
    return lines(r.stdout);
  };

  it('commands, subcommands and options', async () => {
    expect(await complete('')).toEqual(expect.arrayContaining(['run', 'start', 'stop', 'status', 'logs', 'config', 'daemon', 'completion', 'doctor', 'help']));
    expect(await complete('')).not.toContain('__complete');
    expect(await complete('daemon', '')).toEqual(['reload', 'restart', 'start', 'status', 'stop']);
    expect(await complete('status', '--')).toEqual(expect.arrayContaining(['--watch', '--interval', '--wide', '--config', '--output', '--color', '--no-color', '--help']));
    // Before any command, the options every command takes, --no-color among them.
    expect(await complete('--')).toEqual(expect.arrayContaining(['--config', '--color', '--no-color', '--help', '--version']));
  });

  it('service names and tags from the config, even with a ${VAR} of it unset', async () => {
    expect(await complete('run', '')).toEqual(['api', 'postgres', 'redis']);
    expect(await complete('run', 'postgres', '')).toEqual(['api', 'redis']);
    expect(await complete('logs', '')).toEqual(['api', 'postgres', 'redis']);
    expect(await complete('start', '-t', '')).toEqual(['cache', 'db', 'web']);
    expect(await complete('status', '-o', '')).toEqual(['json', 'table', 'text']);
    expect(await complete('completion', '')).toEqual(['bash', 'fish', 'zsh']);
    expect(await complete('run', '--config', '')).toEqual([':files']);
  });
});

describe('bash', () => {
  it('completes commands and the config’s services through the sourced script', async () => {
    const tab = (words: string[]) =>
      sh('bash', ['-c', `source <(localport completion bash) && COMP_WORDS=(${words.map((w) => `'${w}'`).join(' ')}) && COMP_CWORD=${words.length - 1} && _localport_complete && printf '%s\\n' "\${COMPREPLY[@]}"`]);
    expect(lines(await tab(['localport', 'st']))).toEqual(['start', 'status', 'stop']);
    expect(lines(await tab(['localport', 'run', 're']))).toEqual(['redis']);
    expect(lines(await tab(['localport', 'start', '--tag', '']))).toEqual(['cache', 'db', 'web']);
    // Nothing matches: nothing is offered (not '', which bash would insert).
    expect(lines(await tab(['localport', 'completion', 'bash', '']))).toEqual([]);
  });
});

it('bash: words from a config are candidates only, never shell code (compgen -W would run $(…) and backticks)', async () => {
  const dir = mkdtempSync(path.join(root, 'hostile-'));
  const marker = path.join(dir, 'PWNED');
  writeFileSync(
    path.join(dir, 'localport.yaml'),
    // No space in them ($IFS instead): words a candidate list would keep.
    `services:\n  - { name: web, technology: tcp, local_port: 15999, remote_port: 80, tags: ['$(touch$IFS${marker})', '\`touch$IFS${marker}2\`', 'ok'], connection: { host: 10.0.0.7 } }\n`,
  );
  const out = await new Promise<string>((resolve, reject) =>
    execFile('bash', ['-c', `source <(localport completion bash) && COMP_WORDS=(localport start --tag '') && COMP_CWORD=3 && _localport_complete && printf '%s\\n' "\${COMPREPLY[@]}"`], { cwd: dir, env, encoding: 'utf8', timeout: 20000 }, (err, stdout) => (err ? reject(err) : resolve(stdout))),
  );
  expect(existsSync(marker)).toBe(false);
  expect(existsSync(`${marker}2`)).toBe(false);
  // Offered quoted, as bash quotes a file name: what Tab puts on the line is the word, not code.
  const quoted = `\\$\\(touch\\$IFS${marker}\\)`;
  expect(lines(out)).toEqual(expect.arrayContaining(['ok', quoted]));
  const { stdout: ran } = await new Promise<{ stdout: string }>((resolve, reject) =>
    execFile('bash', ['-c', `printf '%s\\n' ${quoted}`], { encoding: 'utf8' }, (err, stdout) => (err ? reject(err) : resolve({ stdout }))),
  );
  expect(ran).toBe(`$(touch$IFS${marker})\n`);
  expect(existsSync(marker)).toBe(false);
});

it('Tab on a config whose code never settles gives commands and options after 2 s instead of freezing the shell', async () => {
  const dir = mkdtempSync(path.join(root, 'hang-'));
  writeFileSync(path.join(dir, 'localport.config.mjs'), 'await new Promise(() => setInterval(() => {}, 1000));\nexport default { services: [] };\n');
  const t0 = Date.now();
  const r = await runCli(['__complete', '1', 'run', ''], { cwd: dir, env, timeoutMs: 15000 });
  expect(r.code).toBe(0);
  expect(Date.now() - t0).toBeLessThan(8000);
});

describeWithPeer('zsh (apt-get install zsh)', existsSync('/usr/bin/zsh') || existsSync('/bin/zsh'), 'zsh', () => {
  it('completes through the sourced script (compadd and _files stubbed: no terminal here)', async () => {
    const tab = (words: string[]) =>
      sh('zsh', ['-fc', `compdef() { :; }; compadd() { shift; print -l -- "$@"; }; _files() { print FILES; }; source <(localport completion zsh); words=(${words.map((w) => `'${w}'`).join(' ')}); CURRENT=${words.length}; _localport`]);
    expect(lines(await tab(['localport', 'run', '']))).toEqual(['api', 'postgres', 'redis']);
    expect(lines(await tab(['localport', 'daemon', '']))).toEqual(['reload', 'restart', 'start', 'status', 'stop']);
    expect(lines(await tab(['localport', '-c', '']))).toEqual(['FILES']);
  });
});

describeWithPeer('fish (apt-get install fish)', existsSync('/usr/bin/fish'), 'fish', () => {
  it('completes through the sourced script (fish’s own complete -C)', async () => {
    const tab = (line: string) => sh('fish', ['--no-config', '-c', `localport completion fish | source; complete -C '${line}'`]);
    expect(lines(await tab('localport run '))).toEqual(['api', 'postgres', 'redis']);
    expect(lines(await tab('localport sta'))).toEqual(['start', 'status']);
    expect(lines(await tab('localport start -t '))).toEqual(['cache', 'db', 'web']);
  });
});

it('an unknown shell is a usage error that names the supported shells, and the one meant for a typo', async () => {
  const r = await runCli(['completion', 'bsh'], { cwd: root, env });
  expect(r.code).toBe(2);
  expect(r.stderr).toContain("error: unknown shell 'bsh'; completion is available for bash, zsh, fish only; did you mean 'bash'?");
  // Another shell is not a typo of bash: the list alone.
  const tcsh = await runCli(['completion', 'tcsh'], { cwd: root, env });
  expect({ code: tcsh.code, stderr: tcsh.stderr }).toEqual({ code: 2, stderr: "error: unknown shell 'tcsh'; completion is available for bash, zsh, fish only\nhint: localport completion --help shows how to load it in each.\n" });
});
