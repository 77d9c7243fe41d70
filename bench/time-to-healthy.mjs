// Time to healthy: 1, 10 and 50 SSH services under LocalPort against one bare `ssh -N -L` started by
// hand, all through the same real sshd with a real HTTP server behind. Baseline: spawn → first HTTP answer
// through the bare tunnel (polled every 2 ms). LocalPort: spawn of every tunnel → every service healthy
// (its tcp check passed through the tunnel), then one HTTP answer through each. Also the whole CLI.
// Goals: 1 service within 1.15× bare ssh; 50 services at most 2× one service.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, httpOk, sshBench, printTable, resolveRaw, stats, untilHttp } from './lib.mjs';

const N = Number(process.env.BENCH_RUNS ?? 10);
const { Supervisor } = await import('../dist/core/supervisor/Supervisor.js');

const { sshd, web, freePort } = await sshBench('Time to healthy');
const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-bench-tth-'));
process.env.LOCALPORT_STATE_DIR = dir;
const connection = { host: '127.0.0.1', port: sshd.port, key_file: sshd.clientKey, known_hosts_file: sshd.knownHosts, strict_host_key_checking: 'yes', remote_host: '127.0.0.1', options: { KexAlgorithms: 'curve25519-sha256' } };
const elapsed = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

async function localport(count) {
  const services = [];
  for (let i = 0; i < count; i++) services.push({ name: `s${i}`, technology: 'ssh', local_port: await freePort(), remote_port: web.port, connection });
  const { hub, config } = await resolveRaw({ services });
  const sup = new Supervisor(hub);
  const t0 = process.hrtime.bigint();
  const results = await sup.startAll(config.services);
  if (results.some((r) => !r.ok)) throw new Error(results.find((r) => !r.ok).error.message);
  await Promise.all([...sup.services.values()].map((s) => s.whenHealthy()));
  const took = elapsed(t0);
  for (const s of config.services) if (!(await httpOk(s.localPort))) throw new Error(`${s.name} healthy but no answer`);
  await sup.stopAll();
  return took;
}

const rows = { bare: [], one: [], ten: [], fifty: [], cli: [] };
try {
  for (let i = 0; i < N; i++) {
    const port = await freePort();
    const t0 = process.hrtime.bigint();
    const ssh = spawn('ssh', ['-N', '-o', `UserKnownHostsFile=${sshd.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'KexAlgorithms=curve25519-sha256', '-i', sshd.clientKey, '-p', String(sshd.port), '-L', `127.0.0.1:${port}:127.0.0.1:${web.port}`, '127.0.0.1'], { stdio: 'ignore' });
    rows.bare.push(await untilHttp(port, t0, ssh));
    ssh.kill('SIGTERM');
    await new Promise((r) => ssh.once('exit', r));

    rows.one.push(await localport(1));
    rows.ten.push(await localport(10));
    if (i < Math.min(N, 5)) rows.fifty.push(await localport(50));

    // The whole CLI: `localport run -- cmd`; the command prints once every service is healthy.
    const cport = await freePort();
    writeFileSync(path.join(dir, 'localport.yaml'), `services:\n  - name: web\n    technology: ssh\n    local_port: ${cport}\n    remote_port: ${web.port}\n    connection: ${JSON.stringify(connection)}\n`);
    const c0 = process.hrtime.bigint();
    const run = spawn(process.execPath, [BIN, 'run', '--', process.execPath, '-e', 'console.log("READY")'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LOCALPORT_STATE_DIR: dir } });
    await new Promise((resolve) => run.stdout.on('data', (d) => String(d).includes('READY') && resolve()));
    rows.cli.push(elapsed(c0));
    await new Promise((r) => run.once('exit', r));
  }
} finally {
  await sshd.stop();
  await web.close();
  rmSync(dir, { recursive: true, force: true });
}
printTable(`Time to healthy through a real sshd (${N} runs; 50 services: ${rows.fifty.length} runs)`, [
  { name: 'bare ssh -N -L, 1 tunnel (baseline)', samples: rows.bare },
  { name: 'LocalPort, 1 service healthy', samples: rows.one },
  { name: 'LocalPort, 10 services healthy', samples: rows.ten },
  { name: 'LocalPort, 50 services healthy', samples: rows.fifty },
  { name: 'localport run -- cmd (whole CLI, 1 service)', samples: rows.cli },
]);
const one = stats(rows.one).median;
const bare = stats(rows.bare).median;
const fifty = stats(rows.fifty).median;
console.log(`Goal: 1 service within 1.15× bare ssh — ${(one / bare).toFixed(2)}× — ${one / bare <= 1.15 ? 'met' : 'MISSED'}`);
console.log(`Goal: 50 services at most 2× one service — ${(fifty / one).toFixed(2)}× — ${fifty / one <= 2 ? 'met' : 'MISSED'}`);
