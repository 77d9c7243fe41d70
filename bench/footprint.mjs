// Footprint: the daemon's RSS and CPU% while idle with 50 SSH services running (default tcp checks every
// 30 s), sampled every second for 30 s from /proc. The tunnels' own (ssh) RSS is shown apart.
import { execFile } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, sshBench, printTable } from './lib.mjs';

const SECONDS = Number(process.env.BENCH_FOOTPRINT_SECONDS ?? 30);
const COUNT = 50;
const { sshd, web, freePort, processes } = await sshBench('Footprint', { body: 'bench', needsProc: true });
const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-bench-fp-'));
const env = { ...process.env, LOCALPORT_STATE_DIR: path.join(dir, 'state') };
const cli = (...args) => new Promise((resolve) => execFile(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ status: err ? 1 : 0, stdout, stderr })));
const TICK = 100; // USER_HZ: clock ticks per second in /proc/PID/stat on Linux
const cpuTicks = (pid) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
};
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

const rss = [];
const cpu = [];
let sshRss = 0;
try {
  let yaml = 'services:\n';
  for (let s = 0; s < COUNT; s++) {
    yaml += `  - name: s${s}\n    technology: ssh\n    local_port: ${await freePort()}\n    remote_port: ${web.port}\n    connection: { host: 127.0.0.1, port: ${sshd.port}, key_file: ${sshd.clientKey}, known_hosts_file: ${sshd.knownHosts}, remote_host: 127.0.0.1 }\n`;
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
  sshRss = status.services.reduce((sum, s) => sum + (s.pid ? rssKb(s.pid) : 0), 0) / 1024;
  void processes;
} finally {
  await cli('daemon', 'stop');
  await sshd.stop();
  await web.close();
  rmSync(dir, { recursive: true, force: true });
}
printTable(`Daemon idle with ${COUNT} SSH services: RSS, sampled every 1 s for ${SECONDS} s`, [{ name: 'daemon RSS', samples: rss }], 'MiB');
printTable(`Daemon idle with ${COUNT} SSH services: CPU% of one core, per 1 s sample`, [{ name: 'daemon CPU%', samples: cpu }], '%');
console.log(`The ${COUNT} ssh tunnel processes together: ${sshRss.toFixed(1)} MiB RSS (${(sshRss / COUNT).toFixed(1)} MiB each).`);
