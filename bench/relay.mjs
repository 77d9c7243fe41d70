// Relay overhead (issue #12): what LocalPort's front costs, measured on LocalPort itself. One daemon
// (`localport start`, a process of its own, as users run it) supervises every service below; the
// client and the far-end servers share this bench's process.
//  1. ssh: a service with the front (the default: ssh listens on its private Unix socket, the front
//     relays the user's port to it) against the same service with `relay: false` (ssh binds the user's
//     port itself, no front): same sshd, same ssh options, one ssh process each.
//  2. tcp: the in-process `tcp` technology (the front relays straight to the server, no child process)
//     against a direct connection to the same plain loopback TCP server.
// Each: a download of BENCH_RELAY_MIB (default 1024 MiB), and 2,000 sequential 64-byte round trips on one
// keep-alive connection. Throughput is reported as time per download (lower is better) and as the ratio of
// throughputs; latency as the median round trip per run and the added median. Baselines run in the same
// run, alternating with the measured case. Goals: ssh throughput ≥ 0.90, added latency ≤ 0.1 ms; tcp ≥ 0.7.
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import net from 'node:net';
import { BIN, peers, printTable, stats } from './lib.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MIB = Number(process.env.BENCH_RELAY_MIB ?? 1024);
const RTTS = 2000;
const { freePort } = await peers.net();
const { descendants: descendantsOf } = await peers.procs();
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The far end: port A sends MIB MiB and closes; port B echoes.
const chunk = Buffer.alloc(1024 * 1024, 7);
const source = net.createServer((s) => {
  let left = MIB;
  const more = () => {
    while (left > 0) {
      left--;
      if (!s.write(chunk)) return void s.once('drain', more);
    }
    s.end();
  };
  s.on('error', () => {});
  more();
});
const echo = net.createServer((s) => {
  s.setNoDelay(true);
  s.on('error', () => {});
  s.pipe(s);
});
await new Promise((r) => source.listen(0, '127.0.0.1', r));
await new Promise((r) => echo.listen(0, '127.0.0.1', r));
const sourcePort = source.address().port;
const echoPort = echo.address().port;

/** CPU time (ms, user + system) a process and its reaped children have used; null off Linux or once it is gone. */
function cpuMs(pid) {
  if (pid === process.pid) {
    const u = process.cpuUsage();
    return (u.user + u.system) / 1000;
  }
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    // utime + stime, and cutime + cstime: socat's per-connection child may be gone by the time it is read.
    return (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) * 10; // USER_HZ = 100
  } catch {
    return null;
  }
}

/** Runs `fn` and returns its result with the CPU each process of `pids` ({ name: pid | () => pid[] }) used meanwhile. */
async function withCpu(pids, fn) {
  const read = () => Object.fromEntries(Object.entries(pids).map(([name, p]) => [name, (typeof p === 'function' ? p() : [p]).reduce((sum, pid) => sum + (cpuMs(pid) ?? 0), 0)]));
  const before = read();
  const result = await fn();
  const after = read();
  return { result, cpu: Object.fromEntries(Object.keys(pids).map((k) => [k, after[k] - before[k]])) };
}

function download(port) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    let got = 0;
    const s = net.connect({ host: '127.0.0.1', port });
    s.on('data', (d) => (got += d.length));
    s.on('end', () => {
      if (got !== MIB * 1024 * 1024) reject(new Error(`got ${got} bytes`));
      else resolve(Number(process.hrtime.bigint() - t0) / 1e6);
    });
    s.on('error', reject);
  });
}

/** Median round trip (ms) of RTTS sequential 64-byte exchanges on one connection. */
async function roundTrips(port) {
  const s = net.connect({ host: '127.0.0.1', port, noDelay: true });
  await new Promise((r, j) => s.once('connect', r).once('error', j));
  const msg = Buffer.alloc(64, 1);
  const samples = [];
  for (let i = 0; i < RTTS; i++) {
    const t0 = process.hrtime.bigint();
    await new Promise((resolve) => {
      let got = 0;
      const onData = (d) => {
        got += d.length;
        if (got >= msg.length) {
          s.off('data', onData);
          resolve();
        }
      };
      s.on('data', onData);
      s.write(msg);
    });
    samples.push(Number(process.hrtime.bigint() - t0) / 1e6);
  }
  s.destroy();
  return stats(samples).median;
}

const verdict = (ok) => (ok ? 'met' : 'MISSED');

/**
 * Runs every case RUNS times, in rotating order so no case always runs on a warmer machine. cases[0] is
 * the baseline, cases[1] is LocalPort (the goals apply to it); a third is a reference. Each case:
 * { name, ports: { source, echo }, pids: { label: pid | () => pids } } (whose CPU is counted).
 */
async function compare(title, cases, goals) {
  for (const c of cases) Object.assign(c, { dl: [], rtt: [], cpu: [] });
  for (let i = 0; i < RUNS; i++) {
    for (let k = 0; k < cases.length; k++) {
      const c = cases[(i + k) % cases.length];
      const run = await withCpu(c.pids, () => download(c.ports.source));
      c.dl.push(run.result);
      c.cpu.push(run.cpu);
      c.rtt.push(await roundTrips(c.ports.echo));
    }
  }
  const mibps = (xs) => MIB / (stats(xs).median / 1000);
  printTable(`${title}: download of ${MIB} MiB (ms; MiB/s at the median: ${cases.map((c) => `${c.name} ${mibps(c.dl).toFixed(0)}`).join(', ')})`, cases.map((c) => ({ name: c.name, samples: c.dl })));
  const us = (xs) => xs.map((x) => x * 1000);
  printTable(`${title}: median of ${RTTS} sequential 64-byte round trips per run`, cases.map((c) => ({ name: c.name, samples: us(c.rtt) })), 'µs');
  // Where the CPU of one download went (median per process): when every process of the path is busy at
  // once, a download cannot take less than their total CPU spread over the machine's cores.
  for (const c of cases) {
    const med = Object.keys(c.pids).map((n) => [n, stats(c.cpu.map((x) => x[n])).median]);
    const total = med.reduce((sum, [, v]) => sum + v, 0);
    console.log(`CPU per download, ${c.name}: ${med.map(([n, v]) => `${n} ${v.toFixed(0)}`).join(', ')} — total ${total.toFixed(0)} ms (${(total / os.cpus().length).toFixed(0)} ms on each of ${os.cpus().length} cores; download median ${stats(c.dl).median.toFixed(0)} ms)`);
  }
  const [base, lp, ...refs] = cases;
  for (const c of [lp, ...refs]) {
    const throughput = mibps(c.dl) / mibps(base.dl);
    const added = stats(c.rtt).median - stats(base.rtt).median;
    const goal = c === lp ? goals : {};
    console.log(`${c.name} vs ${base.name}: throughput ratio ${throughput.toFixed(2)}${goal.throughput ? ` — goal ≥ ${goal.throughput}: ${verdict(throughput >= goal.throughput)}` : ''}; added median latency ${added.toFixed(3)} ms${goal.latencyMs ? ` — goal ≤ ${goal.latencyMs} ms: ${verdict(added <= goal.latencyMs)}` : ''}`);
  }
}

/** socat relaying a port to `upstream` (a C relay: the cost of any user-space hop, as a reference), or null without socat. */
async function socatTo(upstream) {
  const { existsSync } = await import('node:fs');
  if (!existsSync('/usr/bin/socat')) return null;
  const port = await freePort();
  const child = spawn('/usr/bin/socat', ['-b', '65536', `TCP-LISTEN:${port},bind=127.0.0.1,reuseaddr,fork`, `TCP:127.0.0.1:${upstream},nodelay`], { stdio: 'ignore' });
  for (let i = 0; i < 100; i++) {
    const up = await new Promise((r) => net.connect({ host: '127.0.0.1', port }).once('connect', function () { this.destroy(); r(true); }).once('error', () => r(false)));
    if (up) break;
    await sleep(20);
  }
  // socat forks a child per connection: the CPU of the whole process tree counts.
  return { port, pids: () => [child.pid, ...descendantsOf(child.pid)], stop: () => child.kill('SIGKILL') };
}

const { hasSshd } = await peers.bins();
const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-bench-relay-'));
const env = { ...process.env, LOCALPORT_STATE_DIR: path.join(dir, 'state') };
const cli = (...args) => new Promise((resolve) => execFile(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ status: err ? 1 : 0, stdout, stderr })));

/** Waits until a connection through `port` round-trips a byte (the daemon says ready; this confirms). */
async function untilEcho(port) {
  for (let i = 0; ; i++) {
    const ok = await new Promise((r) => {
      const s = net.connect({ host: '127.0.0.1', port });
      s.once('connect', () => s.write('x'));
      s.once('data', () => (s.destroy(), r(true)));
      s.once('error', () => r(false));
      s.setTimeout(2000, () => (s.destroy(), r(false)));
    });
    if (ok) return;
    if (i > 100) throw new Error(`nothing answers through port ${port}`);
    await sleep(50);
  }
}

console.log(`Relay overhead — ${RUNS} runs per case, one LocalPort daemon`);
let sshd;
const stops = [];
try {
  const svc = {};
  let yaml = 'services:\n';
  const add = async (name, technology, remotePort, connection, extra = '') => {
    svc[name] = await freePort();
    yaml += `  - name: ${name}\n    technology: ${technology}\n    local_port: ${svc[name]}\n    remote_port: ${remotePort}\n${extra}    connection: ${JSON.stringify(connection)}\n`;
  };
  await add('tcp-source', 'tcp', sourcePort, { host: '127.0.0.1' });
  await add('tcp-echo', 'tcp', echoPort, { host: '127.0.0.1' });
  if (hasSshd) {
    const { startSshd } = await peers.sshd();
    sshd = await startSshd();
    const connection = { host: '127.0.0.1', port: sshd.port, key_file: sshd.clientKey, known_hosts_file: sshd.knownHosts, strict_host_key_checking: 'yes', remote_host: '127.0.0.1' };
    await add('ssh-source', 'ssh', sourcePort, connection);
    await add('ssh-echo', 'ssh', echoPort, connection);
    await add('ssh-source-direct', 'ssh', sourcePort, connection, '    relay: false\n');
    await add('ssh-echo-direct', 'ssh', echoPort, connection, '    relay: false\n');
  }
  writeFileSync(path.join(dir, 'localport.yaml'), yaml);
  const start = await cli('start', '--all', '--timeout', '60');
  if (start.status !== 0) throw new Error(`localport start failed: ${start.stderr}`);
  // `start` returns when every service is ready; one byte through each echo service confirms it.
  for (const [name, port] of Object.entries(svc)) if (name.includes('echo')) await untilEcho(port);
  const status = JSON.parse((await cli('status', '--output', 'json')).stdout);
  const daemon = status.runner.pid;
  const pid = Object.fromEntries(status.services.map((s) => [s.name, s.pid]));
  // sshd's session processes (one per tunnel) are its descendants.
  const sshdPids = () => (sshd ? [sshd.pid, ...descendantsOf(sshd.pid)] : []);

  const bench = 'bench (client + server)';
  const withSocat = process.env.BENCH_RELAY_SOCAT !== '0';
  const socat = withSocat ? { source: await socatTo(sourcePort), echo: await socatTo(echoPort) } : {};
  if (socat.source) stops.push(socat.source.stop, socat.echo.stop);
  await compare('Plain loopback TCP server', [
    { name: 'direct', ports: { source: sourcePort, echo: echoPort }, pids: { [bench]: process.pid } },
    { name: 'tcp technology', ports: { source: svc['tcp-source'], echo: svc['tcp-echo'] }, pids: { [bench]: process.pid, 'daemon (front)': daemon } },
    ...(socat.source ? [{ name: 'socat (reference)', ports: { source: socat.source.port, echo: socat.echo.port }, pids: { [bench]: process.pid, socat: socat.source.pids } }] : []),
  ], { throughput: 0.7 });

  if (!hasSshd) console.log('\nThrough ssh: SKIPPED — /usr/sbin/sshd is not installed');
  else {
    const sshSocat = withSocat ? { source: await socatTo(svc['ssh-source-direct']), echo: await socatTo(svc['ssh-echo-direct']) } : {};
    if (sshSocat.source) stops.push(sshSocat.source.stop, sshSocat.echo.stop);
    const direct = { source: svc['ssh-source-direct'], echo: svc['ssh-echo-direct'] };
    await compare('One real ssh tunnel under LocalPort', [
      { name: 'relay: false', ports: direct, pids: { [bench]: process.pid, ssh: pid['ssh-source-direct'], sshd: sshdPids, 'daemon (idle)': daemon } },
      { name: 'front', ports: { source: svc['ssh-source'], echo: svc['ssh-echo'] }, pids: { [bench]: process.pid, ssh: pid['ssh-source'], sshd: sshdPids, 'daemon (front)': daemon } },
      ...(sshSocat.source ? [{ name: 'socat + relay: false (reference)', ports: { source: sshSocat.source.port, echo: sshSocat.echo.port }, pids: { [bench]: process.pid, ssh: pid['ssh-source-direct'], sshd: sshdPids, socat: sshSocat.source.pids } }] : []),
    ], { throughput: 0.9, latencyMs: 0.1 });
  }
} finally {
  stops.forEach((stop) => stop());
  await cli('daemon', 'stop');
  await sshd?.stop();
  source.close();
  echo.close();
  rmSync(dir, { recursive: true, force: true });
}
