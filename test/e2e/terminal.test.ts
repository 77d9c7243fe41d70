import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { BIN, runCli } from '../helpers/cli.js';

// Colour and width as a user's terminal gets them: the status table of a config with nothing running.

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-term-'));
const file = path.join(root, 'localport.yaml');
const CONFIG = `services:
  - name: api-gateway-service
    technology: ssh
    local_port: 18443
    remote_port: 8443
    connection: { host: bastion.very-long-hostname.example.com, user: deploy-user, remote_host: api-gateway.internal.cluster.local }
  - name: db
    technology: tcp
    local_port: 15432
    remote_port: 5432
    connection: { host: 10.0.0.5 }
`;
writeFileSync(file, CONFIG);
const env = { LOCALPORT_STATE_DIR: path.join(root, 'state') };
afterAll(() => rmSync(root, { recursive: true, force: true }));

const ESC = '\x1b[';
/** `status` with these variables (NO_COLOR, FORCE_COLOR and COLUMNS cleared first) and arguments, piped. */
async function status(vars: Record<string, string>, ...args: string[]) {
  const r = await runCli(['status', '-c', file, ...args], { cwd: root, env: { ...env, NO_COLOR: undefined, FORCE_COLOR: undefined, COLUMNS: undefined, ...vars } as never });
  expect(r.code).toBe(0);
  return r.stdout;
}

describe('colour', () => {
  it.each([
    ['piped, nothing set', {}, [], false],
    ['FORCE_COLOR=1', { FORCE_COLOR: '1' }, [], true],
    ['FORCE_COLOR=0', { FORCE_COLOR: '0' }, [], false],
    ['NO_COLOR=1 beats FORCE_COLOR=1', { NO_COLOR: '1', FORCE_COLOR: '1' }, [], false],
    ['an empty NO_COLOR is not set', { NO_COLOR: '', FORCE_COLOR: '1' }, [], true],
    ['--color beats NO_COLOR', { NO_COLOR: '1' }, ['--color'], true],
    ['--no-color beats FORCE_COLOR', { FORCE_COLOR: '1' }, ['--no-color'], false],
    ['--color=always beats NO_COLOR', { NO_COLOR: '1' }, ['--color=always'], true],
    ['--color=never beats FORCE_COLOR', { FORCE_COLOR: '1' }, ['--color=never'], false],
    ['--color=auto follows the environment (FORCE_COLOR)', { FORCE_COLOR: '1' }, ['--color=auto'], true],
    ['--color=auto follows the environment (piped)', {}, ['--color=auto'], false],
    ['--color=auto after --no-color undoes it', { FORCE_COLOR: '1' }, ['--no-color', '--color=auto'], true],
    ['the last flag wins', {}, ['--color=never', '--color'], true],
  ] as [string, Record<string, string>, string[], boolean][])('%s', async (_what, vars, args, coloured) => {
    const out = await status(vars, ...args);
    expect(out).toContain('api-gateway-service');
    expect(out.includes(ESC)).toBe(coloured);
  });

  // LocalPort's own error lines follow the same rules, on stderr: the `error:` label in red.
  it.each([
    ['piped, nothing set', {}, [], false],
    ['FORCE_COLOR=1', { FORCE_COLOR: '1' }, [], true],
    ['NO_COLOR=1 beats FORCE_COLOR=1', { NO_COLOR: '1', FORCE_COLOR: '1' }, [], false],
    ['--color beats NO_COLOR', { NO_COLOR: '1' }, ['--color'], true],
    ['--color=never beats FORCE_COLOR', { FORCE_COLOR: '1' }, ['--color=never'], false],
  ] as [string, Record<string, string>, string[], boolean][])('an error, %s', async (_what, vars, args, coloured) => {
    for (const argv of [['status', 'nope', '-c', file, ...args], ['status', '--wach', ...args]]) {
      const r = await runCli(argv, { cwd: root, env: { ...env, NO_COLOR: undefined, FORCE_COLOR: undefined, ...vars } as never });
      expect(r.code).toBe(2);
      const line = r.stderr.split('\n').find((l) => l.includes('error:'));
      expect(line?.startsWith(coloured ? `${ESC}31merror:${ESC}0m ` : 'error: ')).toBe(true);
      // The label is the only escape: the message is as without colour.
      expect(r.stderr.replaceAll(`${ESC}31m`, '').replaceAll(`${ESC}0m`, '')).not.toContain(ESC);
    }
  });

  it('NO_COLOR and FORCE_COLOR together: NO_COLOR wins without a word from Node (it warned that it ignored NO_COLOR)', async () => {
    const r = await runCli(['status', '-c', file], { cwd: root, env: { ...env, NO_COLOR: '1', FORCE_COLOR: '1' } });
    expect({ code: r.code, stderr: r.stderr, coloured: r.stdout.includes(ESC) }).toEqual({ code: 0, stderr: '', coloured: false });
  });

  it('--no-color works before the command too', async () => {
    const r = await runCli(['--no-color', 'status', '-c', file], { cwd: root, env: { ...env, FORCE_COLOR: '1' } });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toContain(ESC);
    const never = await runCli(['--color=never', '-c', file, 'status'], { cwd: root, env: { ...env, FORCE_COLOR: '1' } });
    expect({ code: never.code, coloured: never.stdout.includes(ESC) }).toEqual({ code: 0, coloured: false });
  });

  it('--color with another value is a one-line usage error', async () => {
    const r = await runCli(['status', '-c', file, '--color=sometimes'], { cwd: root, env });
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 2, stderr: "error: --color must be always, never or auto (got 'sometimes')\nhint: Or --color, --no-color.\n" });
  });

  it('on a terminal (a pty from script(1)), coloured by default and not with NO_COLOR', async () => {
    const onPty = (vars: Record<string, string>, service = '') =>
      new Promise<string>((resolve, reject) =>
        // script(1) runs its command through a shell: the paths are ours, quoted; it exits as the command did.
        execFile('script', ['-qec', `'${process.execPath}' '${BIN}' status ${service} -c '${file}'`, '/dev/null'], { env: { ...process.env, ...env, NO_COLOR: '', FORCE_COLOR: '', ...vars, TERM: 'xterm' } as never, encoding: 'utf8' }, (err, stdout) =>
          err && !service ? reject(err) : resolve(stdout),
        ),
      );
    expect(await onPty({})).toContain(`${ESC}90mstopped`);
    expect(await onPty({ NO_COLOR: '1' })).not.toContain(`${ESC}90m`);
    // An error on the terminal: its label red, not with NO_COLOR.
    expect(await onPty({}, 'nope')).toContain(`${ESC}31merror:${ESC}0m unknown service 'nope'`);
    expect(await onPty({ NO_COLOR: '1' }, 'nope')).toContain(`error: unknown service 'nope'`);
    expect(await onPty({ NO_COLOR: '1' }, 'nope')).not.toContain(ESC);
  });
});

describe('width', () => {
  const lines = (out: string) => out.trimEnd().split('\n');

  it.each([80, 120])('fits %i columns: cells cut with an ellipsis, the target first, never wrapped', async (columns) => {
    const out = await status({ COLUMNS: String(columns) });
    const table = lines(out).slice(1);
    for (const l of table) expect([...l].length).toBeLessThanOrEqual(columns);
    expect(table).toHaveLength(3);
    expect(table[0]).toMatch(/^SERVICE\s+STATE\s+HEALTH\s+LOCAL\s+TARGET\s/);
    // The long target is cut, with an ellipsis, in its host: its port stays; the short one is whole.
    expect(out).toMatch(/ deploy-[^\s]*…:8443( |$)/m);
    // The address is whole.
    expect(out).toContain("localhost:18443");
    expect(out).toContain('10.0.0.5:5432');
    expect(out).not.toContain('api-gateway.internal.cluster.local:8443');
  });

  it.each([80, 120])('at %i columns the LOCAL address keeps its port: other columns and the host give room first', async (columns) => {
    // A service whose variable is not set: state `unresolved` and a long last error, so that every
    // column is at its narrowest at 80 (LOCAL was cut to `localhost:1…`).
    const crowded = path.join(root, 'crowded.yaml');
    writeFileSync(crowded, CONFIG.replace('host: 10.0.0.5', 'host: "${LP_TERM_UNSET_HOST}"'));
    const r = await runCli(['status', '-c', crowded], { cwd: root, env: { ...env, NO_COLOR: undefined, FORCE_COLOR: undefined, LP_TERM_UNSET_HOST: undefined, COLUMNS: String(columns) } as never });
    expect(r.code).toBe(0);
    const table = lines(r.stdout).slice(1);
    for (const l of table) expect([...l].length).toBeLessThanOrEqual(columns);
    expect(table[1]).toMatch(/^api-gatewa\S*\s+(ssh\s+)?stopped\s+-\s+localhost:18443\s+deploy\S*:8443(\s|$)/);
    expect(table[2]).toMatch(/^db\s+(tcp\s+)?unresolved\s+-\s+localhost:15432\s+\S+:5432\s/);
  });

  it('at 80 columns the least useful columns go first; at 120 more of them stay', async () => {
    const narrow = lines(await status({ COLUMNS: '80' }))[1];
    const wide = lines(await status({ COLUMNS: '120' }))[1];
    expect(narrow).not.toMatch(/\bVIA\b|\bPID\b|\bUPTIME\b|\bTECH\b/);
    expect(wide).toMatch(/\bCONNS\b.*\bIN\/OUT\b/);
  });

  it('--wide shows every column uncut; so does a pipe without COLUMNS', async () => {
    for (const out of [await status({ COLUMNS: '80' }, '--wide'), await status({})]) {
      expect(lines(out)[1]).toMatch(/^SERVICE\s+TECH\s+STATE\s+HEALTH\s+PID\s+VIA\s+LOCAL\s+TARGET\s+UPTIME\s+RESTARTS\s+CONNS\s+IN\/OUT\s+LAST ERROR$/);
      expect(out).toContain('deploy-user@bastion.very-long-hostname.example.com → api-gateway.internal.cluster.local:8443');
    }
  });
});
