// Recovery, LocalPort against autossh (-M 0, ServerAlive), through the same real sshd, same faults:
//  1. kill -9 of the tunnel process (healthy for 1.5 s before) → until an HTTP request through the
//     forward succeeds again;
//  2. a 1 s server outage (sshd listener and sessions killed, started again 1 s later), repeated 5
//     times with 5 s between repeats → each recovery, timed from the start of the outage.
// LocalPort runs with its default restart policy.
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sshBench, printTable, superviseOne, untilHttp, stats } from './lib.mjs';

const N = Number(process.env.BENCH_RUNS ?? 5);
const REPEATS = 5;
const autossh = ['/usr/bin/autossh', '/usr/local/bin/autossh'].find(existsSync);
const { sshd, web, freePort, processes } = await sshBench('Recovery');
const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-bench-rec-'));
process.env.LOCALPORT_STATE_DIR = dir;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const ms = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;
const sshOpts = ['-o', `UserKnownHostsFile=${sshd.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes', '-o', 'KexAlgorithms=curve25519-sha256', '-o', 'ServerAliveInterval=1', '-o', 'ServerAliveCountMax=2', '-i', sshd.clientKey, '-p', String(sshd.port)];

/** autossh's current ssh child forwarding `port` (LocalPort's ssh listens on a Unix socket behind its front: the service knows its pid). */
const sshFor = (port) => processes().find((p) => /^(\S*\/)?ssh /.test(p.cmd) && p.cmd.includes(`127.0.0.1:${port}:`))?.pid;

async function outage() {
  await sshd.killServer();
  await sleep(1000);
  await sshd.startServer();
}

async function measure(kind, port, tunnelPid) {
  const killRows = [];
  for (let i = 0; i < N; i++) {
    await untilHttp(port, process.hrtime.bigint());
    // A crash hits a tunnel that has been up a while: wait past LocalPort's 1 s reset window.
    await sleep(1500);
    const t0 = process.hrtime.bigint();
    process.kill(tunnelPid(), 'SIGKILL');
    await sleep(5);
    killRows.push(await untilHttp(port, t0));
  }
  const outages = [];
  for (let i = 0; i < REPEATS; i++) {
    await sleep(5000);
    const t0 = process.hrtime.bigint();
    const down = outage();
    await sleep(20);
    const took = await untilHttp(port, t0);
    await down;
    outages.push(took);
  }
  return { name: kind, killRows, outages };
}

const results = [];
try {
  if (autossh) {
    const port = await freePort();
    const a = spawn(autossh, ['-M', '0', '-N', ...sshOpts, '-L', `127.0.0.1:${port}:127.0.0.1:${web.port}`, '127.0.0.1'], { stdio: 'ignore', env: { ...process.env, AUTOSSH_GATETIME: '0' } });
    try {
      results.push(await measure('autossh -M 0 (AUTOSSH_GATETIME=0)', port, () => sshFor(port)));
    } finally {
      a.kill('SIGTERM');
    }
  } else console.log('\n(autossh is not installed: apt-get install autossh — baseline skipped)');
  const port = await freePort();
  const { sup, service } = await superviseOne({
    name: 'web',
    technology: 'ssh',
    local_port: port,
    remote_port: web.port,
    connection: { host: '127.0.0.1', port: sshd.port, key_file: sshd.clientKey, known_hosts_file: sshd.knownHosts, strict_host_key_checking: 'yes', remote_host: '127.0.0.1', server_alive_interval: 1, server_alive_count_max: 2, options: { KexAlgorithms: 'curve25519-sha256' } },
  });
  try {
    await service.start();
    results.push(await measure('LocalPort (default restart policy)', port, () => service.pid));
  } finally {
    await sup.stopAll();
  }
} finally {
  await sshd.stop();
  await web.close();
  rmSync(dir, { recursive: true, force: true });
}
printTable(`Recovery after kill -9 of the tunnel process → HTTP through the forward again (${N} runs each, 1.5 s apart)`, results.map((r) => ({ name: r.name, samples: r.killRows })));
printTable(`Recovery from a 1 s server outage, timed from the outage's start (${REPEATS} repeats, 5 s apart)`, results.map((r) => ({ name: r.name, samples: r.outages })));
console.log('\nEach repeat (ms):');
for (const r of results) console.log(`  ${r.name.padEnd(40)} ${r.outages.map((x) => x.toFixed(0).padStart(6)).join(' ')}   max ${stats(r.outages).max.toFixed(0)}`);
const lp = results.find((r) => r.name.startsWith('LocalPort'));
console.log(`Goal: LocalPort under 2000 ms on every repeat — ${Math.max(...lp.outages) < 2000 ? 'met' : 'MISSED'}`);
