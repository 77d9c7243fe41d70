import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { hasStack, runCli } from '../helpers/cli.js';
import { FAKE_TUNNEL } from '../helpers/fake-tech.js';
import { freePort } from '../helpers/net.js';
import { alive, processes, waitUntil } from '../helpers/procs.js';

// One service's tunnel output, health check or plugin tap must not take down the daemon, `run`, or
// the other services. The tunnels are real processes run by the `exec` technology: `cat /dev/zero |
// tr` for a flood, test/fixtures/fake-tunnel.mjs for something that listens.

const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-isolation-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let projects: { dir: string; env: NodeJS.ProcessEnv }[] = [];
afterEach(async () => {
  for (const { dir, env } of projects.splice(0)) {
    await runCli(['daemon', 'stop'], { cwd: dir, env });
    // Each tunnel carries its project dir as `sh -c`'s $0 or as an argument: whatever is left, by PID.
    for (const p of processes().filter((p) => p.cmd.includes(dir) && p.pid !== process.pid)) {
      try {
        process.kill(p.pid, 'SIGKILL');
      } catch {
        /* gone */
      }
    }
  }
});

function project(file: string, text: string) {
  const dir = mkdtempSync(path.join(root, 'p-'));
  const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state') };
  projects.push({ dir, env });
  writeFileSync(path.join(dir, file), text.replaceAll('$DIR', dir));
  const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });
  const status = async () => {
    const r = await cli('status', '--json');
    expect(r.code).toBe(0);
    return JSON.parse(r.stdout) as {
      runner: { pid: number } | null;
      services: { name: string; state: string; pid: number | null; target: string; health: { state: string } | null }[];
    };
  };
  return { dir, env, cli, status };
}

const rssMb = (pid: number) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024;

/** An exec service: `sh -c SCRIPT DIR` where the script starts a listener on {localPort} in the background. */
const shService = (name: string, local: number, script: string) => `  - name: ${name}
    technology: exec
    local_port: ${local}
    remote_port: 1
    health_check: { type: tcp, interval: 0.5 }
    connection:
      command: sh
      args: ['-c', ${JSON.stringify(script)}, '$DIR']
`;
// The listener's own output goes to /dev/null: node makes its stdout non-blocking, and the flood
// writer sharing that pipe would then fail with EAGAIN instead of flooding.
const listen = `${JSON.stringify(process.execPath)} ${JSON.stringify(FAKE_TUNNEL)} {localPort} ok >/dev/null 2>&1 &`;

describe('a tunnel that prints without end', () => {
  it('keeps the daemon up, responsive and with bounded memory: endless bytes, a 10 MB line, `yes`; the others stay healthy and the logs say what was cut', async () => {
    const [endless, long, chatty, calm] = [await freePort(), await freePort(), await freePort(), await freePort()];
    const p = project(
      'localport.yaml',
      `services:\n${shService('endless', endless, `${listen} cat /dev/zero | tr '\\000' a`)}${shService(
        'long',
        long,
        `${listen} head -c 10000000 /dev/zero | tr '\\000' b; echo; echo after the long line; wait`,
      )}${shService('chatty', chatty, `${listen} yes`)}${shService('calm', calm, `${listen} wait`)}`,
    );
    expect((await p.cli('daemon', 'start')).code).toBe(0);
    const daemon = (await p.status()).runner!.pid;
    const baseline = rssMb(daemon);

    const start = await p.cli('start', '--all');
    expect(start.code).toBe(0);
    const before = await p.status();
    // Flood for a while, sampling the daemon's memory; readline died here after ~1 s, near 1 GB.
    let peak = baseline;
    const t0 = Date.now();
    while (Date.now() - t0 < 3000) {
      expect(alive(daemon)).toBe(true);
      peak = Math.max(peak, rssMb(daemon));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(peak - baseline).toBeLessThan(200);
    // It still answers at once (one log write per `y` kept it busy for seconds).
    const asked = Date.now();
    await p.status();
    expect(Date.now() - asked).toBeLessThan(5000);

    const after = await p.status();
    expect(after.runner!.pid).toBe(daemon);
    expect(after.services.map((s) => [s.name, s.state, s.health!.state, s.pid])).toEqual(before.services.map((s) => [s.name, 'ready', 'healthy', s.pid]));

    // The service logs say what happened, and hold no line much longer than the cap.
    const logOf = async (name: string) => readFileSync((await p.cli('logs', name, '--path')).stdout.trim(), 'utf8');
    const longLog = await logOf('long');
    expect(longLog).toMatch(/stdout b{8192} …\n/);
    expect(longLog).toContain('… (9991808 bytes cut from that stdout line: lines are kept up to 8192 bytes)');
    expect(longLog).toContain('stdout after the long line');
    const endlessLog = await logOf('endless');
    expect(endlessLog).toMatch(/stdout a{8192} …\n/);
    for (const line of [...longLog.split('\n'), ...endlessLog.split('\n')]) expect(line.length).toBeLessThan(8400);
    const chattyLog = await logOf('chatty');
    expect(chattyLog).toMatch(/localport dropped \d+ bytes of output: more than LocalPort handles for one service/);
    expect(chattyLog.length).toBeLessThan(3 * 1024 * 1024);
    const daemonLog = (await p.cli('logs', '-n', '200')).stdout;
    expect(daemonLog).toContain('service endless printed a stdout line longer than 8192 bytes; long lines are cut (see its log)');
    expect(daemonLog).not.toMatch(/uncaught|Invalid string length/);
  }, 30000);

  it('keeps `run` up, and the command runs to its end', async () => {
    const [endless, calm] = [await freePort(), await freePort()];
    const p = project('localport.yaml', `services:\n${shService('endless', endless, `${listen} cat /dev/zero | tr '\\000' a`)}${shService('calm', calm, `${listen} wait`)}`);
    const r = await p.cli('run', '--', process.execPath, '-e', 'setTimeout(() => console.log("command done"), 2500)');
    expect(r.stderr).not.toMatch(/RangeError|Invalid string length/);
    expect(hasStack(r.stderr)).toBe(false);
    expect(r.stdout).toContain('command done');
    expect(r.code).toBe(0);
  }, 30000);
});

describe("a plugin's taps, technology or health check that fail for one service", () => {
  it('are logged against that service; the daemon and the other service keep running', async () => {
    const [victim, bystander] = [await freePort(), await freePort()];
    const p = project(
      'localport.config.ts',
      `import { configObject, defineConfig, definePlugin } from 'localport';
const hit = (s: { name: string }) => s.name === 'victim';
let checks = 0;
const chaos = definePlugin({
  name: 'test:chaos',
  apply(api) {
    // Sync throws, and async functions given to tap(): their rejections nobody awaits.
    api.hooks.stateChanged.tap('test:chaos', (c) => { if (hit(c.service)) throw new Error('sync stateChanged ' + c.to); });
    api.hooks.stateChanged.tap('test:chaos-async', async (c) => { if (hit(c.service)) throw new Error('async stateChanged ' + c.to); });
    api.hooks.healthChanged.tap('test:chaos', (c) => { if (hit(c.service)) throw new Error('sync healthChanged'); });
    api.hooks.healthChanged.tap('test:chaos-async', async (c) => { if (hit(c.service)) throw new Error('async healthChanged'); });
    api.hooks.afterStart.tap('test:chaos-async', async (s) => { if (hit(s)) throw new Error('async afterStart'); });
    api.hooks.afterStart.tapPromise('test:chaos-promise', async (s) => { if (hit(s)) throw new Error('afterStart promise'); });
    api.hooks.beforeStop.tap('test:chaos-async', async (s) => { if (hit(s)) throw new Error('async beforeStop'); });
    // A check that answers nothing, then throws a string, then works.
    api.registerHealthCheck({
      type: 'moody',
      configSchema: configObject({}),
      async check() {
        checks += 1;
        if (checks === 1) return undefined as never;
        if (checks === 2) throw 'not an Error';
        return { ok: true, message: 'fine' };
      },
    });
    // A technology whose describeTarget and explainExit are broken.
    api.registerTechnology({
      type: 'touchy',
      connectionSchema: configObject({}),
      describeTarget: () => { throw new Error('describeTarget bug'); },
      createForward: (s, ctx) => ({
        command: ${JSON.stringify(process.execPath)},
        args: [${JSON.stringify(FAKE_TUNNEL)}, String((ctx.listen as { port: number }).port), 'ok', '0', '$DIR/no-flag'],
        ready: { output: /^LISTENING / },
        explainExit: () => { throw new Error('explainExit bug'); },
      }),
    });
  },
});
export default defineConfig({
  plugins: [chaos],
  services: {
    victim: { technology: 'touchy' as never, localPort: ${victim}, remotePort: 1, connection: {}, healthCheck: { type: 'moody', interval: 0.2, failureThreshold: 5 }, restartPolicy: { initialDelay: 0.1 } },
    bystander: { technology: 'exec', localPort: ${bystander}, remotePort: 1, healthCheck: { type: 'tcp', interval: 0.2 }, connection: { command: ${JSON.stringify(process.execPath)}, args: [${JSON.stringify(FAKE_TUNNEL)}, '{localPort}', 'ok', '0', '$DIR/no-flag'] } },
  },
});
`,
    );
    const start = await p.cli('start', '--all');
    expect(start.code).toBe(0);
    const first = await p.status();
    const daemon = first.runner!.pid;
    const pids = Object.fromEntries(first.services.map((s) => [s.name, s.pid!]));
    expect(first.services.map((s) => [s.name, s.state, s.health!.state, s.target])).toEqual([
      ['victim', 'ready', 'healthy', 'touchy :1'],
      ['bystander', 'ready', 'healthy', `${process.execPath} :1`],
    ]);

    // The victim's tunnel dies: the exit is explained (explainExit throws), it restarts, taps throw again.
    process.kill(pids.victim, 'SIGKILL');
    await waitUntil(async () => (await p.status()).services[0].pid !== pids.victim && (await p.status()).services[0].state === 'ready', 5000, 'victim restarted');
    // Stopping the victim alone runs the stop hooks.
    expect((await p.cli('stop', 'victim')).code).toBe(0);
    expect((await p.cli('start', 'victim')).code).toBe(0);

    const last = await p.status();
    expect(alive(daemon)).toBe(true);
    expect(last.runner!.pid).toBe(daemon);
    expect(last.services.map((s) => [s.name, s.state])).toEqual([
      ['victim', 'ready'],
      ['bystander', 'ready'],
    ]);
    expect(last.services[1].pid).toBe(pids.bystander);
    expect(last.services[1].health!.state).toBe('healthy');

    const log = (await p.cli('logs', '-n', '500')).stdout;
    for (const said of [
      'service victim: plugin test:chaos failed in stateChanged: sync stateChanged starting',
      'service victim: plugin test:chaos-async failed in stateChanged: async stateChanged ready',
      'service victim: plugin test:chaos failed in healthChanged: sync healthChanged',
      'service victim: plugin test:chaos-async failed in healthChanged: async healthChanged',
      'service victim: plugin test:chaos-async failed in afterStart: async afterStart',
      'plugin test:chaos-promise failed in afterStart: afterStart promise',
      'service victim: plugin test:chaos-async failed in beforeStop: async beforeStop',
      'service victim: error in explainExit of technology touchy: explainExit bug',
      'service victim: error in describeTarget of technology touchy: describeTarget bug',
    ]) {
      expect(log).toContain(said);
    }
    expect(log).not.toMatch(/uncaught|shutdown requested/);
    expect(log).not.toMatch(/service bystander: .*plugin/);
    const victimLog = readFileSync((await p.cli('logs', 'victim', '--path')).stdout.trim(), 'utf8');
    expect(victimLog).toContain('error in explainExit of technology touchy: explainExit bug');
  }, 30000);
});
