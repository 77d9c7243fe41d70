import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { hasStack, runCli } from '../helpers/cli.js';

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-help-'));
const env = { LOCALPORT_STATE_DIR: path.join(root, 'state') };
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** clipanion's placeholder for an option value nobody named, or a rest operand without a name. */
const UNNAMED = /#\d|\s\.\.\.(\s|$)/m;

describe('help', () => {
  it('names every option value and operand in the command list', async () => {
    const r = await runCli(['--help'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(UNNAMED);
    for (const usage of [
      'localport run [-c,--config FILE] [-o,--output FORMAT] [--json] [--log-level LEVEL] [--color] [-t,--tag TAG] [-a,--all] [--timeout SECONDS] [--wide] [--events FILE] [SERVICE...] [-- COMMAND...]',
      'localport status [-c,--config FILE] [-o,--output FORMAT] [--json] [--log-level LEVEL] [--color] [-w,--watch] [--interval SECONDS] [--wide] [SERVICE...]',
      'localport start [-c,--config FILE] [-o,--output FORMAT] [--json] [--log-level LEVEL] [--color] [-t,--tag TAG] [-a,--all] [--timeout SECONDS] [--ui-port PORT] [--wide] [SERVICE...]',
      'localport stop [-c,--config FILE] [-o,--output FORMAT] [--json] [--log-level LEVEL] [--color] [-t,--tag TAG] [-a,--all] [--force] [SERVICE...]',
      'localport logs [-c,--config FILE] [-o,--output FORMAT] [--json] [--log-level LEVEL] [--color] [-f,--follow] [-n,--lines N] [--grep REGEX] [--path] [--list] [--all] [SERVICE]',
      'localport help [COMMAND...]',
    ]) {
      expect(r.stdout).toContain(`  ${usage}\n`);
    }
    expect(r.stdout).toMatchSnapshot();
  });

  it('shows run\'s services and the command after --, and examples with values other than the defaults', async () => {
    const r = await runCli(['run', '--help'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(UNNAMED);
    expect(r.stdout).toContain('$ localport run [SERVICE...] [-- COMMAND...]\n');
    expect(r.stdout).toContain('  --timeout SECONDS     Seconds to wait for every service to be ready (default 60)\n');
    expect(r.stdout).not.toContain('--timeout 60 ');
    expect(r.stdout).toMatchSnapshot();
  });

  it("fits a command's help to COLUMNS: option descriptions wrap under their column, no line ends in a space, rules fit", async () => {
    for (const columns of [80, 60]) {
      const r = await runCli(['help', 'status'], { env: { ...env, COLUMNS: String(columns), NO_COLOR: undefined, FORCE_COLOR: '1' } as never });
      expect(r.code).toBe(0);
      const lines = r.stdout.replace(/\x1b\[[0-9;]*m/g, '').split('\n');
      // The description and the Details paragraphs are clipanion's, cut at 80 whatever the width: at 60
      // columns the Usage and Options sections are checked.
      const usage = lines.findIndex((l) => l.startsWith('━━━ Usage'));
      const details = lines.indexOf('━━━ Details ' + '━'.repeat(Math.min(80, columns - 1) - 'Details'.length - 5));
      expect([r.stdout.includes('\x1b['), details > 0]).toEqual([true, true]);
      for (const line of columns === 80 ? lines : lines.slice(usage, details)) expect([line, [...line].length <= columns && !line.endsWith(' ')]).toEqual([line, true]);
      const config = lines.findIndex((l) => l.startsWith('  -c,--config FILE'));
      expect(lines[config + 1]).toMatch(/^ {24}\S/);
    }
  });

  it('localport help [COMMAND] prints what --help prints', async () => {
    const all = await runCli(['help'], { env });
    expect(all.code).toBe(0);
    expect(all.stdout).toBe((await runCli(['--help'], { env })).stdout);

    const run = await runCli(['help', 'run'], { env });
    expect(run.code).toBe(0);
    expect(run.stdout).toBe((await runCli(['run', '--help'], { env })).stdout);

    const r = await runCli(['help', 'daemon', 'status'], { env });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(UNNAMED);
    expect(r.stdout).toContain('$ localport daemon status\n');
    expect(r.stdout).toContain('  -c,--config FILE      Config file to use instead of searching the current directory\n');
    expect(r.stdout).toMatchSnapshot();
  });

  it('localport help with an unknown command is a usage error that suggests the closest', async () => {
    const r = await runCli(['help', 'stauts'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("error: unknown command 'stauts'; did you mean 'status'?");
    expect(hasStack(r.stderr)).toBe(false);
  });

  it('localport help GROUP (and GROUP --help) lists the commands of that group, exit 0', async () => {
    for (const [group, commands] of [['config', ['export', 'validate', 'print']], ['daemon', ['start', 'stop', 'restart', 'status', 'reload']]] as const) {
      const r = await runCli(['help', group], { env });
      expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });
      expect(r.stdout.split('\n')[0]).toBe(`localport ${group}: ${commands.join(', ')}`);
      for (const c of commands) expect(r.stdout).toMatch(new RegExp(`^  localport ${group} ${c} \\[-c,--config FILE\\]`, 'm'));
      expect(r.stdout).not.toMatch(UNNAMED);
      expect((await runCli([group, '--help'], { env })).stdout).toBe(r.stdout);
    }
    expect((await runCli(['help', 'config'], { env })).stdout).toMatchSnapshot();
  });

  it('a misspelt option is one line naming it and the command, with the closest of its options, exit 2', async () => {
    const cases: [string[], string][] = [
      [['status', '--wach'], "error: unknown option '--wach' for 'localport status'; did you mean '--watch'?\nhint: localport status --help lists its options.\n"],
      [['logs', 'db', '--folow'], "error: unknown option '--folow' for 'localport logs'; did you mean '--follow'?\nhint: localport logs --help lists its options.\n"],
      [['daemon', 'start', '--auto-strat'], "error: unknown option '--auto-strat' for 'localport daemon start'; did you mean '--auto-start'?\nhint: localport daemon start --help lists its options.\n"],
      [['status', '--no-colour'], "error: unknown option '--no-colour' for 'localport status'; did you mean '--no-color'?\nhint: localport status --help lists its options.\n"],
      // Only the command's own options: `--watch` is status's, not run's.
      [['run', '--wach'], "error: unknown option '--wach' for 'localport run'\nhint: localport run --help lists its options.\n"],
      [['--confg', 'x', 'status'], "error: unknown option '--confg'; did you mean '--config'?\nhint: localport --help lists its options.\n"],
      [['status', '--watch=1'], "error: --watch takes no value (got '--watch=1')\nhint: localport status --help lists its options.\n"],
    ];
    for (const [args, stderr] of cases) {
      const r = await runCli(args, { env });
      expect({ args, code: r.code, stderr: r.stderr, stdout: r.stdout }).toEqual({ args, code: 2, stderr, stdout: '' });
    }
  });

  it('names the values in a usage error too', async () => {
    const r = await runCli(['run', '--timeout'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('[--timeout SECONDS] [--wide] [--events FILE] [SERVICE...] [-- COMMAND...]');
    expect(r.stderr).not.toMatch(UNNAMED);
  });
});

describe('did you mean', () => {
  const svc = (name: string, port: number, tech = 'ssh', extra = '') =>
    `  - name: ${name}\n    technology: ${tech}\n    local_port: ${port}\n    remote_port: 80\n    tags: [database]\n    connection:\n      host: bastion\n${extra}`;
  const write = (name: string, text: string) => {
    const file = path.join(root, name);
    writeFileSync(file, text);
    return file;
  };

  it('suggests the command closest to an unknown one, in the table and in JSON', async () => {
    const table = await runCli(['stauts'], { env });
    expect(table.code).toBe(2);
    expect(table.stderr).toMatch(/^error: unknown command 'stauts'; did you mean 'status'\?$/m);
    expect(table.stderr).not.toContain('Unknown Syntax Error');
    expect(hasStack(table.stderr)).toBe(false);

    const json = await runCli(['stauts', '-o', 'json'], { env });
    expect(json.code).toBe(2);
    expect(JSON.parse(json.stdout).error).toMatchObject({ code: 'USAGE', message: "unknown command 'stauts'; did you mean 'status'?" });

    const prefix = await runCli(['daemon'], { env });
    expect(prefix.code).toBe(2);
    expect(prefix.stderr).toContain("error: 'daemon' needs a subcommand: daemon start, daemon stop, daemon restart, daemon status, daemon reload");

    const sub = await runCli(['daemon', 'stauts'], { env });
    expect(sub.code).toBe(2);
    expect(sub.stderr).toContain("error: unknown command 'daemon stauts'; did you mean 'daemon status'?");
  });

  it('suggests the technology and the health check type closest to an unknown one', async () => {
    const file = write('tech.yaml', `services:\n${svc('web', 1, 'kubctl')}${svc('db', 2, 'ssh', '    health_check:\n      type: postgress\n')}`);
    const r = await runCli(['config', 'validate', '-c', file], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("services[0] (web).technology: unknown technology 'kubctl'; registered: exec, kubectl, ssh, tcp; did you mean 'kubectl'?");
    expect(r.stderr).toContain("services[1] (db).health_check.type: unknown health check 'postgress'; registered: http, kafka, postgres, tcp; did you mean 'postgres'?");
  });

  it('suggests the service and the tag closest to an unknown one', async () => {
    const file = write('names.yaml', `services:\n${svc('api', 1)}${svc('postgres', 2)}`);
    const name = await runCli(['run', 'postgre', '-c', file, '--', 'true'], { env });
    expect(name.code).toBe(2);
    expect(name.stderr).toContain(`error: unknown service 'postgre' in ${file}; configured: api, postgres; did you mean 'postgres'?`);

    const tag = await runCli(['run', '-t', 'databse', '-c', file, '--', 'true'], { env });
    expect(tag.code).toBe(2);
    expect(tag.stderr).toContain("error: no enabled service has tag 'databse'; tags in use: database; did you mean 'database'?");
  });

  it('suggests the output format closest to an unknown one', async () => {
    const r = await runCli(['daemon', 'status', '-o', 'jsno'], { env });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("(got 'jsno'); did you mean 'json'?");
  });

  it('--help is served from the list the build wrote, identical to what the CLI itself prints (help)', async () => {
    const fast = await runCli(['--help'], { env });
    const full = await runCli(['help'], { env });
    expect(fast.code).toBe(0);
    expect(fast.stdout).toBe(full.stdout);
    expect((await runCli([], { env })).stdout).toBe(full.stdout);
    // --version too, as the CLI says it.
    const { readFileSync } = await import('node:fs');
    expect((await runCli(['--version'], { env })).stdout).toBe(`${JSON.parse(readFileSync(new URL('../../package.json', import.meta.url), 'utf8')).version}\n`);
  });
});
