// Chaos: 10 SSH services in the daemon, through the real sshd, with an HTTP load generator on every
// forward (each request a new connection). For CHAOS_SECONDS (default 60), a random tunnel process is
// killed every 0.5 s. LocalPort's front owns every local port, so a connection that arrives while its
// tunnel restarts is held, not refused. Reported: new connections refused (goal 0), connections cut in
// flight, replayed and timed out (from the client's errors and from the services' traffic metrics in
// `status`), the hold time (the front's longest, and a probe opened 5 ms after each kill: median and max),
// whether every service ended healthy, restarts, and orphans after stopping — and after SIGKILLing the
// daemon and starting it again. Then a stampede:
// 30 SSH services started at once against the same sshd, whose MaxStartups is the default (10:30:100,
// so it drops some of the handshakes): all 30 must end healthy with no manual retry. Loopback only,
// bounded in time. `npm run chaos`.
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, getOnce, sshBench, printTable, stats } from './lib.mjs';

const SECONDS = Number(process.env.CHAOS_SECONDS ?? 60);
const COUNT = 10;
const STAMPEDE = 30;
/** A load request slower than this waited for a restarting tunnel (an ordinary one takes a few ms). */
const HELD_MS = 50;
const { request } = await import('../dist/app/control/client.js');
const { daemonPaths } = await import('../dist/app/control/sockets.js');

const { sshd, web, freePort, processes, alive } = await sshBench('Chaos', { body: 'chaos' });
const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-chaos-'));
const env = { ...process.env, LOCALPORT_STATE_DIR: path.join(dir, 'state') };
process.env.LOCALPORT_STATE_DIR = env.LOCALPORT_STATE_DIR;
const file = path.join(dir, 'localport.yaml');
const cliIn = (cwd) => (...args) => new Promise((resolve) => execFile(process.execPath, [BIN, ...args], { cwd, env, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ status: err ? (err.code ?? 1) : 0, stdout, stderr })));
const cli = cliIn(dir);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
/** A new connection per request, with a client timeout longer than the front's 10 s hold bound. */
const CLIENT_TIMEOUT_MS = 15000;
const get = (port) => getOnce(port, CLIENT_TIMEOUT_MS);
/** ssh processes of this run: their command line names this run's client key. */
const ourTunnels = () => processes().filter((p) => /^(\S*\/)?ssh /.test(p.cmd) && p.cmd.includes(sshd.clientKey) && alive(p.pid));

const ports = [];
let yaml = 'services:\n';
for (let i = 0; i < COUNT; i++) {
  ports.push(await freePort());
  yaml += `  - name: s${i}\n    technology: ssh\n    local_port: ${ports[i]}\n    remote_port: ${web.port}\n    health_check: { type: http, interval: 1, timeout: 1 }\n    connection: { host: 127.0.0.1, port: ${sshd.port}, key_file: ${sshd.clientKey}, known_hosts_file: ${sshd.knownHosts}, remote_host: 127.0.0.1, options: { KexAlgorithms: curve25519-sha256 } }\n`;
}
writeFileSync(file, yaml);
const socket = daemonPaths(file).socket;
const report = {};
try {
  const start = await cli('start', '--all', '--timeout', '60');
  if (start.status !== 0) throw new Error(start.stderr);

  // Load: one sequential request loop per forward.
  let running = true;
  let attempted = 0;
  let failed = 0;
  const errors = { refused: 0, cut: 0, timeout: 0, status: 0 };
  const latencies = [];
  const load = ports.map(async (port) => {
    while (running) {
      attempted += 1;
      const r = await get(port);
      latencies.push(r.ms);
      if (!r.ok) {
        failed += 1;
        errors[r.error] += 1;
      }
      await sleep(5);
    }
  });

  // Chaos: kill a random tunnel every 0.5 s; time each recovery with its own probe.
  const recoveries = [];
  const probeWaits = [];
  let probeFailures = 0;
  const probes = [];
  let kills = 0;
  const until = Date.now() + SECONDS * 1000;
  while (Date.now() < until) {
    const st = await request(socket, 'status', { names: [] });
    const victims = st.services.filter((s) => s.state === 'ready' && s.pid);
    if (victims.length) {
      const v = victims[Math.floor(Math.random() * victims.length)];
      const port = v.localPort;
      try {
        process.kill(v.pid, 'SIGKILL');
        kills += 1;
        const t0 = Date.now();
        probes.push(
          (async () => {
            await sleep(5);
            for (let first = true; ; first = false) {
              const r = await get(port);
              // The probe's own wait: how long a connection opened just after the kill was held.
              if (first) probeWaits.push(r.ms);
              if (r.ok) break;
              probeFailures += 1;
              if (Date.now() - t0 > 30000) return;
              await sleep(10);
            }
            recoveries.push(Date.now() - t0);
          })(),
        );
      } catch {
        /* exited meanwhile */
      }
    }
    await sleep(500);
  }
  await Promise.all(probes);
  running = false;
  await Promise.all(load);

  // Did everything end healthy?
  let final;
  const settleBy = Date.now() + 15000;
  do {
    final = await request(socket, 'status', { names: [] });
    if (final.services.every((s) => s.state === 'ready' && s.health?.state === 'healthy')) break;
    await sleep(200);
  } while (Date.now() < settleBy);
  const allHealthy = final.services.every((s) => s.state === 'ready' && s.health?.state === 'healthy');
  const restarts = final.services.reduce((n, s) => n + s.restarts, 0);
  // The fronts' own counts (kept across restarts), from `status --output json` as a user reads them.
  const statusJson = JSON.parse((await cli('status', '--output', 'json')).stdout);
  const sum = (key) => statusJson.services.reduce((n, s) => n + (s.traffic?.[key] ?? 0), 0);
  const traffic = { total: sum('total'), heldTotal: sum('heldTotal'), cut: sum('cut'), replayed: sum('replayed'), timedOut: sum('timedOut'), maxHoldMs: Math.max(0, ...statusJson.services.map((s) => s.traffic?.maxHoldMs ?? 0)), relay: statusJson.services.every((s) => s.relay !== false) };

  const stop = await cli('daemon', 'stop', '--json');
  await sleep(200);
  const orphansAfterStop = ourTunnels().length;

  // SIGKILL the daemon with its tunnels up, then start it again.
  if ((await cli('start', '--all', '--timeout', '60')).status !== 0) throw new Error('restart for the SIGKILL phase failed');
  const daemonPid = (await request(socket, 'status', { names: [] })).runner.pid;
  process.kill(daemonPid, 'SIGKILL');
  await sleep(500);
  const orphansAfterDaemonKill = ourTunnels().length;
  const again = await cli('start', '--all', '--timeout', '60');
  const info = JSON.parse((await cli('daemon', 'status', '--json')).stdout);
  await cli('daemon', 'stop');
  await sleep(200);
  const orphansAtEnd = ourTunnels().length;

  // Stampede: 30 services of another project, started at once by one `start --all`. ssh's default key
  // exchange, as a user has it (the faster one above shortens the unauthenticated window, and the drops).
  const stampedeDir = path.join(dir, 'stampede');
  mkdirSync(stampedeDir);
  let many = 'services:\n';
  for (let i = 0; i < STAMPEDE; i++) {
    many += `  - name: m${i}\n    technology: ssh\n    local_port: ${await freePort()}\n    remote_port: ${web.port}\n    health_check: { type: http, interval: 1, timeout: 1 }\n    connection: { host: 127.0.0.1, port: ${sshd.port}, key_file: ${sshd.clientKey}, known_hosts_file: ${sshd.knownHosts}, remote_host: 127.0.0.1 }\n`;
  }
  writeFileSync(path.join(stampedeDir, 'localport.yaml'), many);
  const stampedeCli = cliIn(stampedeDir);
  const dropsBefore = sshd.log().match(/past MaxStartups/g)?.length ?? 0;
  const connectionsBefore = sshd.connections();
  const s0 = Date.now();
  const stampede = await stampedeCli('start', '--all', '--timeout', '60');
  const stampedeMs = Date.now() - s0;
  const stampedeStatus = JSON.parse((await stampedeCli('status', '--json')).stdout);
  const stampedeHealthy = stampedeStatus.services.filter((s) => s.state === 'ready' && s.health?.state === 'healthy').length;
  const stampedeFailed = stampedeStatus.services.filter((s) => s.state === 'failed').length;
  const stampedeDrops = (sshd.log().match(/past MaxStartups/g)?.length ?? 0) - dropsBefore;
  const stampedeConnections = sshd.connections() - connectionsBefore;
  await stampedeCli('daemon', 'stop');
  await sleep(200);
  const orphansAfterStampede = ourTunnels().length;

  Object.assign(report, {
    seconds: SECONDS,
    services: COUNT,
    kills,
    attempted,
    failed,
    errors,
    latencies,
    probeWaits,
    probeFailures,
    traffic,
    restarts,
    allHealthy,
    recoveries,
    stopMs: JSON.parse(stop.stdout).ms,
    orphansAfterStop,
    orphansAfterDaemonKill,
    restartedAfterKill: again.status === 0,
    reapedAtRestart: info.orphansReaped,
    orphansAtEnd,
    stampede: {
      exit: stampede.status,
      ms: stampedeMs,
      healthy: stampedeHealthy,
      failed: stampedeFailed,
      drops: stampedeDrops,
      connections: stampedeConnections,
      orphans: orphansAfterStampede,
    },
  });
} finally {
  await cli('daemon', 'stop');
  await cliIn(path.join(dir, 'stampede'))('daemon', 'stop');
  for (const p of ourTunnels()) process.kill(p.pid, 'SIGKILL');
  await sshd.stop();
  await web.close();
  rmSync(dir, { recursive: true, force: true });
}

const r = report;
const t = r.traffic;
const held = r.latencies.filter((ms) => ms > HELD_MS);
console.log(`\nChaos — ${r.services} SSH services behind LocalPort's front (${t.relay ? 'relay on' : 'RELAY OFF'}), a random tunnel SIGKILLed every 0.5 s for ${r.seconds} s, HTTP load on every forward (a new connection per request)`);
console.log(`  kills                         ${r.kills}`);
console.log(`  restarts (daemon's count)     ${r.restarts}`);
console.log(`  requests attempted / failed   ${r.attempted} / ${r.failed} (${((100 * r.failed) / Math.max(1, r.attempted)).toFixed(3)} % failed)`);
console.log(`  new connections refused       ${r.errors.refused} — goal 0: ${r.errors.refused === 0 ? 'met' : 'MISSED'}`);
console.log(`  client saw: cut ${r.errors.cut}, timed out ${r.errors.timeout}, non-200 ${r.errors.status}; the recovery probes failed ${r.probeFailures} times`);
console.log(`  fronts (status --output json): connections ${t.total}, held ${t.heldTotal}, cut in flight ${t.cut}, replayed ${t.replayed}, timed out ${t.timedOut}, longest hold ${t.maxHoldMs} ms`);
printTable('  Hold: a connection opened 5 ms after each kill, until its answer', [{ name: 'probe after a kill', samples: r.probeWaits.length ? r.probeWaits : [NaN] }]);
printTable(`  Load requests slower than ${HELD_MS} ms (held while their tunnel restarted; the median request took ${stats(r.latencies).median.toFixed(1)} ms)`, [{ name: 'held requests', samples: held.length ? held : [NaN] }]);
printTable('  Time from kill to an HTTP answer through that forward again', [{ name: 'recovery', samples: r.recoveries.length ? r.recoveries : [NaN] }]);
console.log(`  every service ended healthy   ${r.allHealthy ? 'yes' : 'NO'}`);
console.log(`  daemon stop                   ${r.stopMs} ms; orphaned tunnels afterwards: ${r.orphansAfterStop}`);
console.log(`  daemon SIGKILLed              tunnels left alive 0.5 s later: ${r.orphansAfterDaemonKill} (parent-death signal); restart ${r.restartedAfterKill ? 'clean' : 'FAILED'}, reaped ${r.reapedAtRestart}; orphans at the end: ${r.orphansAtEnd}`);
if (r.recoveries.length) console.log(`  recovery median ${stats(r.recoveries).median} ms over ${r.recoveries.length} kills`);
const m = r.stampede;
console.log(`\nStampede — ${STAMPEDE} SSH services started at once (one \`start --all\`) against one sshd with the default MaxStartups 10:30:100`);
console.log(`  handshakes sshd dropped       ${m.drops} (retried as transient failures; ${m.connections} connections accepted for ${STAMPEDE} tunnels)`);
console.log(`  start --all                   exit ${m.exit} after ${m.ms} ms; healthy ${m.healthy} / ${STAMPEDE}, failed ${m.failed}; orphans after stop: ${m.orphans}`);
const stampedeOk = m.exit === 0 && m.healthy === STAMPEDE && m.failed === 0 && m.orphans === 0;
const ok = r.errors.refused === 0 && r.allHealthy && r.orphansAfterStop === 0 && r.orphansAfterDaemonKill === 0 && r.orphansAtEnd === 0 && r.restartedAfterKill && stampedeOk;
console.log(`\n  verdict                       ${ok ? 'PASS' : 'FAIL'} (0 refused, every service healthy, 0 orphans; all ${STAMPEDE} of the stampede healthy)`);
process.exitCode = ok ? 0 : 1;
