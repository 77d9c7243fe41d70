// Footprint: the daemon's RSS and CPU% while idle with 50 SSH services running (default tcp checks every
// 30 s), sampled every second for 30 s from /proc. The ssh processes under the daemon (tunnels, or shared
// masters) are counted apart, and with the daemon: the total RSS of LocalPort and its ssh processes
// (issue #13's goal: ≤ 150 MiB for 50 services on a shared master; also shown with
// `share_connection: false`). PSS (each shared page split between the processes that map it) is shown
// next to RSS, which counts a library's pages once per process.
// Goal (issue #12): RSS not above 81 MiB + 10 % (89.1 MiB), the figure before the hardening. Measured
// in the same run: the default (every service behind its front, on 127.0.0.1 and ::1) and `relay: false`
// (the tunnels bind the ports; no fronts), and, with BENCH_BEFORE_BIN=<an earlier build's dist/cli/bin.js>,
// that build with the same config (without the relay keys it does not know).
import { execFile, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, untilHttp, memoryKb, shareKey, sharingSupported, sshBench, sshUnder, printTable, stats } from './lib.mjs';

const SECONDS = Number(process.env.BENCH_FOOTPRINT_SECONDS ?? 30);
const COUNT = 50;
const GOAL_MIB = 81 * 1.1;
const TOTAL_GOAL_MIB = 150;
const BEFORE = process.env.BENCH_BEFORE_BIN;
const { sshd, web, freePort } = await sshBench('Footprint', { body: 'bench', needsProc: true });
const sharing = await sharingSupported();
const TICK = 100; // USER_HZ: clock ticks per second in /proc/PID/stat on Linux
const cpuTicks = (pid) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
};
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

/** Starts a daemon (of `bin`) with 50 SSH services, samples it idle; { rss, cpu, ssh: { count, rss, pss }, pss } in MiB / %. */
async function measure(bin, extra = '') {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-bench-fp-'));
  const env = { ...process.env, LOCALPORT_STATE_DIR: path.join(dir, 'state') };
  const cli = (...args) => new Promise((resolve) => execFile(process.execPath, [bin, ...args], { cwd: dir, env, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ status: err ? 1 : 0, stdout, stderr })));
  const rss = [];
  const cpu = [];
  let ssh = { count: 0, rss: 0, pss: 0 };
  let pss = 0;
  try {
    let yaml = 'services:\n';
    for (let s = 0; s < COUNT; s++) {
      yaml += `  - name: s${s}\n    technology: ssh\n    local_port: ${await freePort()}\n    remote_port: ${web.port}\n${extra}    connection: { host: 127.0.0.1, port: ${sshd.port}, key_file: ${sshd.clientKey}, known_hosts_file: ${sshd.knownHosts}, remote_host: 127.0.0.1 }\n`;
    }
    writeFileSync(path.join(dir, 'localport.yaml'), yaml);
    const start = await cli('start', '--all', '--timeout', '60');
    if (start.status !== 0) throw new Error(start.stderr);
    const status = JSON.parse((await cli('status', '--json')).stdout);
    const pid = status.runner.pid;
    await new Promise((r) => setTimeout(r, 2000)); // let start-up settle
    let last = cpuTicks(pid);
    for (let i = 0; i < SECONDS; i++) {
      await new Promise((r) => setTimeout(r, 1000));
      const now = cpuTicks(pid);
      cpu.push(((now - last) / TICK) * 100);
      last = now;
      rss.push(rssKb(pid) / 1024);
    }
    // Every ssh process under the daemon, once each (services on one master report the same pid).
    const procs = await sshUnder(pid);
    const mem = procs.map((p) => memoryKb(p.pid));
    ssh = { count: procs.length, rss: mem.reduce((a, m) => a + m.rss, 0) / 1024, pss: mem.reduce((a, m) => a + m.pss, 0) / 1024 };
    pss = memoryKb(pid).pss / 1024;
  } finally {
    await cli('daemon', 'stop');
    rmSync(dir, { recursive: true, force: true });
  }
  return { rss, cpu, ssh, pss };
}

/** Reference: one bare `ssh -N` carrying 50 `-L` (what a shared master is), its RSS once every forward answers. */
async function bareSsh() {
  const ports = [];
  for (let i = 0; i < COUNT; i++) ports.push(await freePort());
  const ssh = spawn('ssh', ['-N', '-o', `UserKnownHostsFile=${sshd.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-i', sshd.clientKey, '-p', String(sshd.port), ...ports.flatMap((p) => ['-L', `127.0.0.1:${p}:127.0.0.1:${web.port}`]), '127.0.0.1'], { stdio: 'ignore' });
  try {
    await Promise.all(ports.map((p) => untilHttp(p, process.hrtime.bigint(), ssh)));
    return memoryKb(ssh.pid);
  } finally {
    ssh.kill('SIGTERM');
    await new Promise((r) => ssh.once('exit', r));
  }
}

const runs = [];
let bare;
try {
  bare = await bareSsh();
  const unshared = `    share_connection: false\n`;
  runs.push({ name: `default (fronts, relay on${sharing ? ', shared master' : ''})`, ...(await measure(BIN)) });
  if (sharing) runs.push({ name: 'share_connection: false (fronts)', ...(await measure(BIN, unshared)) });
  runs.push({ name: 'relay: false (no fronts)', ...(await measure(BIN, '    relay: false\n')) });
  if (BEFORE) runs.push({ name: 'earlier build (BENCH_BEFORE_BIN)', ...(await measure(BEFORE)) });
} finally {
  await sshd.stop();
  await web.close();
}
printTable(`Daemon idle with ${COUNT} SSH services: RSS, sampled every 1 s for ${SECONDS} s`, runs.map((r) => ({ name: r.name, samples: r.rss })), 'MiB');
printTable(`Daemon idle with ${COUNT} SSH services: CPU% of one core, per 1 s sample`, runs.map((r) => ({ name: r.name, samples: r.cpu })), '%');
console.log(`\nLocalPort and its ssh processes, ${COUNT} services, once idle (daemon: its median RSS; ssh: one reading):`);
const total = (r) => stats(r.rss).median + r.ssh.rss;
for (const r of runs) {
  console.log(`  ${r.name.padEnd(42)} daemon ${stats(r.rss).median.toFixed(1)} MiB + ${r.ssh.count} ssh process${r.ssh.count === 1 ? '' : 'es'} ${r.ssh.rss.toFixed(1)} MiB (${(r.ssh.rss / Math.max(1, r.ssh.count)).toFixed(1)} MiB each) = total RSS ${total(r).toFixed(1)} MiB; PSS ${(r.pss + r.ssh.pss).toFixed(1)} MiB`);
}
console.log(`  ${'reference: bare ssh -N with 50 -L'.padEnd(42)} one process ${(bare.rss / 1024).toFixed(1)} MiB RSS, PSS ${(bare.pss / 1024).toFixed(1)} MiB`);
const median = stats(runs[0].rss).median;
console.log(`Goal: daemon RSS not above 81 MiB + 10 % (${GOAL_MIB.toFixed(1)} MiB) — ${median.toFixed(1)} MiB — ${median <= GOAL_MIB ? 'met' : 'MISSED'}`);
console.log(
  sharing
    ? `Goal: LocalPort + ssh, ${COUNT} services on a shared master, total RSS ≤ ${TOTAL_GOAL_MIB} MiB — ${total(runs[0]).toFixed(1)} MiB — ${total(runs[0]) <= TOTAL_GOAL_MIB ? 'met' : 'MISSED'}`
    : `Goal: LocalPort + ssh ≤ ${TOTAL_GOAL_MIB} MiB for ${COUNT} services — NOT MEASURABLE: this build has no shared masters; one connection each: ${total(runs[0]).toFixed(1)} MiB`,
);
