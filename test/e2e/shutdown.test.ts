import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { runStateFile } from '../../core/runstate.js';
import { startCli, type CliProcess } from '../helpers/cli.js';
import { freePort } from '../helpers/net.js';
import { alive, processes, waitUntil } from '../helpers/procs.js';

// `shutdownPhase` under `localport run` (the built CLI): a config whose plugin taps the hook and
// writes each phase to a file, as a plugin that cleans up there would. Real tunnel processes
// (test/fixtures/fake-tunnel.mjs through the exec technology).

const FAKE_TUNNEL = fileURLToPath(new URL('../fixtures/fake-tunnel.mjs', import.meta.url));
const PHASES = ['stop-new-work', 'complete-current', 'cancel-tasks', 'force-kill'];

/** Every phase once, in order; the tunnel still up while the first two fire, gone by force-kill. */
function expectPhases(lines: string[]): void {
  expect(lines.map((l) => l.split(' ')[0])).toEqual(PHASES);
  expect([lines[0], lines[1], lines[3]]).toEqual(['stop-new-work up', 'complete-current up', 'force-kill down']);
}

describe('run fires shutdownPhase', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-shutdown-'));
  const env = { LOCALPORT_STATE_DIR: path.join(root, 'state') };
  const started: CliProcess[] = [];

  afterEach(() => {
    for (const cli of started.splice(0)) cli.child.kill('SIGKILL');
    for (const p of processes().filter((p) => p.cmd.includes(FAKE_TUNNEL) && p.cmd.includes(root))) process.kill(p.pid, 'SIGKILL');
  });
  afterAll(() => rmSync(root, { recursive: true, force: true }));

  /** A project with one tunnel and a plugin that appends `<phase> <tunnel alive?>` to phases.log. */
  async function project() {
    const dir = mkdtempSync(path.join(root, 'p-'));
    const log = path.join(dir, 'phases.log');
    const port = await freePort();
    writeFileSync(
      path.join(dir, 'localport.config.mjs'),
      `import { appendFileSync } from 'node:fs';
import net from 'node:net';
const accepts = () => new Promise((resolve) => net.connect(${port}, '127.0.0.1').on('connect', function () { this.destroy(); resolve(true); }).on('error', () => resolve(false)));
export default {
  plugins: [{ name: 'phase-recorder', apply(api) {
    api.hooks.shutdownPhase.tapPromise('phase-recorder', async ({ phase }) => {
      appendFileSync(${JSON.stringify(log)}, phase + ' ' + ((await accepts()) ? 'up' : 'down') + '\\n');
    });
  } }],
  services: {
    web: { technology: 'exec', localPort: ${port}, remotePort: 1, connection: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FAKE_TUNNEL)}, '{localPort}', 'ok', '0', ${JSON.stringify(path.join(dir, 'no-flag'))}] } },
  },
};
`,
    );
    const run = (args: string[]) => {
      const cli = startCli(['run', ...args], { cwd: dir, env });
      started.push(cli);
      return cli;
    };
    const phases = () => (existsSync(log) ? readFileSync(log, 'utf8').trim().split('\n') : []);
    const tunnels = () => processes().filter((p) => p.cmd.includes(FAKE_TUNNEL) && p.cmd.includes(dir) && alive(p.pid));
    return { dir, run, phases, tunnels, stateFile: runStateFile(path.join(dir, 'localport.config.mjs'), env) };
  }

  it('when the command exits: every phase, in order, the tunnel up until cancel-tasks stops it, each phase logged', async () => {
    const p = await project();
    const r = await p.run(['--', process.execPath, '-e', 'console.log("the command ran")']).exited;
    expect(r.stdout).toContain('the command ran');
    expect(r.code).toBe(0);
    expectPhases(p.phases());
    expect(p.tunnels()).toEqual([]);
    const log = readFileSync(path.join(env.LOCALPORT_STATE_DIR, 'logs', 'localport.log'), 'utf8');
    for (const [i, phase] of PHASES.entries()) expect(log).toContain(`shutdown phase ${i + 1}/4 ${phase}: done`);
  });

  it('on Ctrl-C of a run without a command: every phase, in order, then exit 130', async () => {
    const p = await project();
    const cli = p.run([]);
    await cli.waitFor(/web\s+exec\s+ready/);
    const [tunnel] = p.tunnels();
    expect(p.phases()).toEqual([]);
    cli.child.kill('SIGINT');
    const r = await cli.exited;
    expect(r.code).toBe(130);
    expectPhases(p.phases());
    expect(alive(tunnel.pid)).toBe(false);
    expect(existsSync(p.stateFile)).toBe(false);
  });

  it('on Ctrl-C while the command runs: the command ends first, then every phase fires', async () => {
    const p = await project();
    const cli = p.run(['--', process.execPath, '-e', "process.on('SIGINT', () => { console.log('command got SIGINT'); process.exit(3); }); console.log('command up'); setInterval(() => {}, 1000);"]);
    await cli.waitFor(/command up/);
    cli.child.kill('SIGINT');
    const r = await cli.exited;
    expect(r.stdout).toContain('command got SIGINT');
    expect(r.code).toBe(3);
    expectPhases(p.phases());
    await waitUntil(() => p.tunnels().length === 0, 1000, 'no tunnel left');
  });
});
