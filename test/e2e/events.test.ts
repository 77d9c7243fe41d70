import { mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, expect, it } from '@jest/globals';
import { eventProblems, type LocalPortEvent } from '../../app/events.js';
import { stopProjects, daemonsIn } from '../helpers/daemons.js';
import { runCli, startCli, type CliProcess } from '../helpers/cli.js';
import { freePort, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer, hasSshd } from '../helpers/peers.js';
import { alive, waitUntil } from '../helpers/procs.js';
import { sshConnection, startSshd, type SshdPeer } from '../helpers/sshd.js';

// The event stream as a user follows it: the built CLI, its detached daemon, a real OpenSSH sshd on
// 127.0.0.1 and a real HTTP server behind it. Every line is checked against the schema (app/events.ts).

interface Status {
  services: { name: string; state: string; pid: number | null; connection: { id: string; pid: number | null; services: number } | null }[];
}

describeWithPeer('OpenSSH sshd', hasSshd, 'the event stream', () => {
  let sshd: SshdPeer;
  let web: HttpPeer;
  const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-events-'));
  const dirs: { dir: string; env: NodeJS.ProcessEnv }[] = [];
  const followers: CliProcess[] = [];

  beforeAll(async () => {
    [sshd, web] = await Promise.all([startSshd(), startHttpServer('one')]);
  });
  afterEach(async () => {
    for (const f of followers.splice(0)) if (f.child.exitCode === null) f.child.kill('SIGKILL');
    await stopProjects(dirs);
  });
  afterAll(async () => {
    await Promise.all([sshd?.stop(), web?.close()]);
    rmSync(root, { recursive: true, force: true });
  });

  /** `a` has an ssh connection of its own (its pid is its tunnel); `b` shares the endpoint's master. */
  const serviceYaml = (name: string, local: number, extra = '', interval = 0.5) => {
    const c = sshConnection(sshd);
    return `  - name: ${name}
    technology: ssh
    local_port: ${local}
    remote_port: ${web.port}
    health_check: { type: tcp, interval: ${interval} }
    restart_policy: { initial_delay: 0.1 }
${extra}    connection: { host: 127.0.0.1, port: ${c.port}, user: ${c.user}, key_file: ${c.key_file}, known_hosts_file: ${c.known_hosts_file}, remote_host: 127.0.0.1, options: { KexAlgorithms: curve25519-sha256 } }
`;
  };

  async function project() {
    const dir = mkdtempSync(path.join(root, 'p-'));
    const env = { LOCALPORT_STATE_DIR: path.join(dir, 'state') };
    dirs.push({ dir, env });
    const [pa, pb] = [await freePort(), await freePort()];
    const file = path.join(dir, 'localport.yaml');
    const write = (bInterval = 0.5) => writeFileSync(file, `services:\n${serviceYaml('a', pa, '    share_connection: false\n')}${serviceYaml('b', pb, '', bInterval)}`);
    write();
    const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 30000 });
    const follow = (...args: string[]) => {
      const p = startCli(args, { cwd: dir, env });
      followers.push(p);
      return p;
    };
    const status = async (): Promise<Status> => JSON.parse((await cli('status', '--output', 'json')).stdout) as Status;
    return { dir, env, file, write, cli, follow, status };
  }

  /** Every stdout line of a follower as an event; each must be one JSON object of the schema. */
  const eventsOf = (out: string): LocalPortEvent[] =>
    out
      .split('\n')
      .filter(Boolean)
      .map((line) => {
        const e = JSON.parse(line) as LocalPortEvent;
        expect({ line, problems: eventProblems(e) }).toEqual({ line, problems: [] });
        return e;
      });

  /**
   * The follower is subscribed once it has printed an event: a reload of an unchanged config is one
   * (reload applied, nothing changed), asked for until it shows, so nothing after this is missed.
   */
  async function subscribed(p: Awaited<ReturnType<typeof project>>, f: CliProcess, marker: RegExp): Promise<void> {
    await waitUntil(async () => {
      await p.cli('daemon', 'reload');
      await new Promise((r) => setTimeout(r, 200));
      return marker.test(f.stdout());
    }, 15000, 'the follower to print the reload event');
  }

  it('events --output json prints a kill -9, a hot reload and a daemon stop, in order, one schema-valid JSON object per line, and exits 0', async () => {
    const p = await project();
    expect((await p.cli('start', '--all')).code).toBe(0);
    const f = p.follow('events', '--output', 'json');
    await subscribed(p, f, /"type":"reload"/);
    const skip = eventsOf(f.stdout()).length;

    // kill -9 of a's own ssh: a restarts (b, on the shared master, does not).
    const before = await p.status();
    const a = before.services.find((s) => s.name === 'a')!;
    expect(a.connection).toBeNull();
    process.kill(a.pid!, 'SIGKILL');
    await f.waitFor(/"service":"a","from":"restarting","to":"ready"/, 15000);
    await f.waitFor(/"type":"health","service":"a","from":"unknown","to":"healthy"/, 15000);

    // A hot reload: b's check interval changes in the file; the daemon sees it and replaces b.
    p.write(0.7);
    await f.waitFor(/"type":"reload","applied":true,"added":\[\],"removed":\[\],"changed":\["b"\]/, 15000);
    await f.waitFor(/"service":"b","from":"starting","to":"ready"/, 15000);

    const stop = await p.cli('daemon', 'stop');
    expect(stop.code).toBe(0);
    let timer: NodeJS.Timeout | undefined;
    const r = await Promise.race([f.exited, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`events did not exit after daemon stop:\n${f.stdout()}\n${f.stderr()}`)), 10000)))]);
    clearTimeout(timer);
    expect({ code: r.code, stderr: r.stderr }).toEqual({ code: 0, stderr: '' });

    const events = eventsOf(r.stdout).slice(skip);
    const at = (pred: (e: LocalPortEvent) => boolean, what: string) => {
      const i = events.findIndex(pred);
      if (i < 0) throw new Error(`no ${what} among:\n${events.map((e) => JSON.stringify(e)).join('\n')}`);
      return i;
    };
    const down = at((e) => e.type === 'state' && e.service === 'a' && e.from === 'ready' && e.to === 'restarting', 'a: ready → restarting');
    const scheduled = at((e) => e.type === 'restart' && e.service === 'a', 'a: restart scheduled');
    const up = at((e) => e.type === 'state' && e.service === 'a' && e.to === 'ready', 'a: → ready');
    const reload = at((e) => e.type === 'reload' && e.applied, 'reload applied');
    const phases = events.filter((e) => e.type === 'shutdown').map((e) => (e as { phase: string }).phase);
    const firstPhase = at((e) => e.type === 'shutdown', 'a shutdown phase');
    expect(down).toBeLessThan(scheduled);
    expect(scheduled).toBeLessThan(up);
    expect(up).toBeLessThan(reload);
    expect(reload).toBeLessThan(firstPhase);
    expect(events[scheduled]).toMatchObject({ attempt: 1, reason: expect.stringMatching(/\S/) });
    expect((events[scheduled] as { delay: number }).delay).toBeGreaterThan(0);
    // b kept its process through a's restart: no event of b until the reload.
    expect(events.slice(0, reload).filter((e) => 'service' in e && e.service === 'b')).toEqual([]);
    expect(phases).toEqual(['stop-new-work', 'complete-current', 'cancel-tasks', 'force-kill']);
    // The stream's last event is the last phase: then the daemon closed it.
    expect(events.at(-1)).toMatchObject({ type: 'shutdown', phase: 'force-kill', step: 4 });
    // Both services were stopped in the shutdown, between its phases.
    for (const name of ['a', 'b']) at((e) => e.type === 'state' && e.service === name && e.to === 'stopped' && events.indexOf(e) > firstPhase, `${name} stopped in the shutdown`);
  });

  it('a kill -9 of a shared ssh master: every service on it says it lost its tunnel, is scheduled to restart and is ready again', async () => {
    const p = await project();
    // b and c share the endpoint's master; a has its own connection.
    const pc = await freePort();
    writeFileSync(p.file, `${readFileSync(p.file, 'utf8')}${serviceYaml('c', pc)}`);
    expect((await p.cli('start', '--all')).code).toBe(0);
    const f = p.follow('events', 'b', 'c', '--output', 'json');
    await subscribed(p, f, /"type":"reload"/);
    const skip = eventsOf(f.stdout()).length;
    const st = await p.status();
    const [b, c] = ['b', 'c'].map((n) => st.services.find((s) => s.name === n)!);
    expect(b.connection?.id).toBeDefined();
    expect(c.connection?.id).toBe(b.connection!.id);
    process.kill(b.connection!.pid!, 'SIGKILL');
    for (const name of ['b', 'c']) await f.waitFor(new RegExp(`"service":"${name}","from":"restarting","to":"ready"`), 15000);
    f.child.kill('SIGINT');
    expect((await f.exited).code).toBe(0);
    const events = eventsOf(f.stdout()).slice(skip);
    for (const name of ['b', 'c']) {
      const mine = events.filter((e) => 'service' in e && e.service === name).map((e) => (e.type === 'state' ? `${e.from}→${e.to}` : e.type));
      expect(mine.slice(0, 3)).toEqual(['ready→restarting', 'restart', 'restarting→ready']);
    }
    // The filter: nothing of a.
    expect(events.filter((e) => 'service' in e && e.service === 'a')).toEqual([]);
  });

  it('run --events - prints the events as JSON lines on stdout, a ready event before the command runs, and the shutdown after it', async () => {
    const p = await project();
    const r = await runCli(['run', 'a', '--events', '-', '--', process.execPath, '-e', "console.log('CMD')"], { cwd: p.dir, env: p.env, timeoutMs: 30000 });
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n').filter(Boolean);
    const cmd = lines.indexOf('CMD');
    expect(cmd).toBeGreaterThan(0);
    const before = eventsOf(lines.slice(0, cmd).join('\n'));
    const after = eventsOf(lines.slice(cmd + 1).join('\n'));
    expect(before.at(-1)).toMatchObject({ type: 'ready', services: ['a'] });
    expect(before.map((e) => e.type)).toEqual(['state', 'state', 'health', 'ready']);
    expect(after.filter((e) => e.type === 'shutdown').map((e) => (e as { step: number }).step)).toEqual([1, 2, 3, 4]);
    // LocalPort's own output (the status table) went to stderr: stdout is events and the command's.
    expect(r.stderr).toMatch(/SERVICE\s+TECH/);
  });

  it('run --events FILE writes the same stream to a file of mode 0600', async () => {
    const p = await project();
    const file = path.join(p.dir, 'events.ndjson');
    writeFileSync(file, 'old content\n', { mode: 0o644 });
    const r = await runCli(['run', 'a', '--events', file, '--', process.execPath, '-e', "console.log('CMD')"], { cwd: p.dir, env: p.env, timeoutMs: 30000 });
    expect(r.code).toBe(0);
    expect(r.stdout).not.toMatch(/"type"/);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    const events = eventsOf(readFileSync(file, 'utf8'));
    expect(events.map((e) => e.type)).toContain('ready');
    expect(events.at(-1)).toMatchObject({ type: 'shutdown', phase: 'force-kill' });
  });

  it('events without a daemon exits 1 saying so; a human line per event by default; Ctrl-C exits 0; a killed daemon ends it with 1', async () => {
    const p = await project();
    const none = await p.cli('events');
    expect(none.code).toBe(1);
    expect(none.stderr).toMatch(/^error: no LocalPort daemon is running for .*localport\.yaml; there are no events to follow\nhint: Start it with: localport start\n$/);

    expect((await p.cli('daemon', 'start')).code).toBe(0);
    const unknown = await p.cli('events', 'nosuch');
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/nosuch/);

    const human = p.follow('events');
    await subscribed(p, human, /config reloaded: nothing changed/);
    expect(human.stdout()).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z config reloaded: nothing changed$/m);
    human.child.kill('SIGINT');
    expect((await human.exited).code).toBe(0);

    const json = p.follow('events', '-o', 'json');
    await subscribed(p, json, /"type":"reload"/);
    const [daemon] = daemonsIn(p.dir);
    process.kill(daemon, 'SIGKILL');
    await waitUntil(() => !alive(daemon), 5000, 'the daemon to die');
    const r = await json.exited;
    expect(r.code).toBe(1);
    // With -o json the error is a JSON document on stdout, as every command's.
    expect(JSON.parse(r.stdout.trim().split('\n').at(-1)!)).toMatchObject({ error: { code: 'DAEMON_UNREACHABLE', message: expect.stringMatching(/closed the event stream without shutting down/) } });
  });
});
