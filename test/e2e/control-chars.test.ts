import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { hasStack, runCli } from '../helpers/cli.js';
import { stopProjects } from '../helpers/daemons.js';
import { freePort } from '../helpers/net.js';

// Text LocalPort did not write reaches the user's terminal: a tunnel's output (in `run`'s progress and
// error lines, in `logs`) and a config's keys and values (in `config validate`). Terminal control
// sequences in it must arrive shown, not obeyed: `ESC ] 0 ; … BEL` retitles the window, `ESC [ 2 J`
// clears the screen, `ESC [ 31 m` fakes LocalPort's own colours.

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-ctrl-'));
let dirs: { dir: string; env: NodeJS.ProcessEnv }[] = [];
afterEach(() => stopProjects(dirs));
afterAll(() => rmSync(root, { recursive: true, force: true }));

function project(config: string) {
  const dir = mkdtempSync(path.join(root, 'p-'));
  const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state') };
  dirs.push({ dir, env });
  writeFileSync(path.join(dir, 'localport.yaml'), config);
  return (args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });
}

/** Any C0 control but tab and newline, DEL, or C1: what a terminal would act upon. */
const CONTROL = /[\x00-\x08\x0b-\x1f\x7f-\x9f]/;
const ATTACK = '\\033]0;PWNED\\007\\033[2J\\033[31mfake: all good';
const SHOWN = '\\u001b]0;PWNED\\u0007\\u001b[2J\\u001b[31mfake: all good';
// printf's octal escapes for "café 日本 😀": the UTF-8 bytes, as the tunnel writes them.
const TEXT = 'caf\\303\\251 \\346\\227\\245\\346\\234\\254 \\360\\237\\230\\200';

describe('terminal control sequences from a tunnel and from a config', () => {
  it('an exec tunnel printing escapes and exiting 1: `run` and `logs` show them as text, UTF-8 intact, and emit none', async () => {
    const port = await freePort();
    // A real process: sh's printf writes the raw bytes (ESC, BEL, multi-byte UTF-8), on stdout and stderr.
    const script = `printf '${ATTACK}\\n'; printf '${TEXT} ${ATTACK}\\n' >&2; exit 1`;
    const cli = project(`services:
  - name: evil
    technology: exec
    local_port: ${port}
    remote_port: 80
    restart_policy: { max_attempts: 0 }
    connection: { command: /bin/sh, args: ${JSON.stringify(['-c', script])} }
`);
    const run = await cli(['run', '--', 'true']);
    const out = `${run.stdout}${run.stderr}`;
    expect({ code: run.code, out }).toEqual({ code: 1, out: expect.stringContaining(`[FAILED] service evil: `) });
    expect(out).not.toMatch(CONTROL);
    // The progress line quotes the tunnel's last stderr line, shown (once: no error line repeats it).
    expect(out).toContain(`service evil: exec process exited with code 1: café 日本 😀 ${SHOWN}`);
    expect(out).toMatch(/\[FAILED\] service evil: .*café 日本 😀 \\u001b\]0;PWNED\\u0007\\u001b\[2J\\u001b\[31mfake: all good/);

    const logs = await cli(['logs', 'evil']);
    expect({ code: logs.code, stderr: logs.stderr }).toEqual({ code: 0, stderr: '' });
    expect(logs.stdout).not.toMatch(CONTROL);
    expect(logs.stdout).toMatch(new RegExp(`Z stdout ${SHOWN.replace(/[\\[\]]/g, '\\$&')}\n`));
    expect(logs.stdout).toContain(`stderr café 日本 😀 ${SHOWN}\n`);
  }, 60_000);

  it('`config validate`: an ESC in a service name and a value is shown, not printed raw; the JSON output escapes it as before', async () => {
    const cli = project(`services:
  - name: "web\\e]0;PWNED\\a\\e[2Jé"
    technology: ssh
    local_port: 18080
    remote_port: "80\\e[31m"
    "bad\\e[2Jkey": 1
    connection: { host: bastion.example.com }
`);
    const r = await cli(['config', 'validate']);
    const out = `${r.stdout}${r.stderr}`;
    expect({ code: r.code, out }).toEqual({ code: 2, out: expect.stringContaining('localport.yaml: services[0] (web\\u001b]0;PWNED\\u0007\\u001b[2Jé).name: ') });
    expect(out).not.toMatch(CONTROL);
    expect(out).toContain('.bad\\u001b[2Jkey: unknown key');
    expect(out).toContain('.remote_port: must be a port number');
    expect(hasStack(out)).toBe(false);

    const json = await cli(['config', 'validate', '--output', 'json']);
    expect(json.stdout).not.toMatch(CONTROL);
    const body = JSON.parse(json.stdout) as { error: { problems: { path: string }[] } };
    // JSON carries the real characters (escaped by JSON itself), for a program to read back.
    expect(body.error.problems.map((p) => p.path)).toContain('services[0] (web\x1b]0;PWNED\x07\x1b[2Jé).bad\x1b[2Jkey');
  }, 30_000);

  it('a host, user, context or tag with a control character is refused at validation, naming the service and key', async () => {
    const cli = project(`services:
  - name: web
    technology: ssh
    local_port: 18080
    remote_port: 80
    connection: { host: "bastion\\e[31m.example.com", user: "deploy\\a", remote_host: "db\\x9b1m", jump_host: "hop\\x7f" }
  - name: k8s
    technology: kubectl
    local_port: 18081
    remote_port: 80
    connection: { resource_name: api, context: "prod\\e]0;x\\a" }
  - name: direct
    technology: tcp
    local_port: 18082
    remote_port: 80
    connection: { host: "10.0.0.1\\r" }
  - name: tagged
    technology: tcp
    local_port: 18083
    remote_port: 80
    tags: [ok, "front\\e[2J"]
    connection: { host: 10.0.0.1 }
`);
    const r = await cli(['config', 'validate']);
    expect(r.code).toBe(2);
    expect(r.stderr).not.toMatch(CONTROL);
    const problems = r.stderr.split('\n').filter((l) => l.includes('must not contain control characters'));
    expect(problems.map((l) => l.replace(/^.*localport\.yaml: /, '').replace(/: must not contain control characters.*$/, '')).sort()).toEqual(
      ['services[3] (tagged).tags[1]', 'services[0] (web).connection.host', 'services[0] (web).connection.user', 'services[0] (web).connection.remote_host', 'services[0] (web).connection.jump_host', 'services[1] (k8s).connection.context', 'services[2] (direct).connection.host'].sort(),
    );
  }, 30_000);
});
