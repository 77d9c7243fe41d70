// Daemon shutdown: `localport daemon stop` with 20 and 50 running SSH services, through the real sshd.
// Prints the time the CLI reports (request sent → daemon process gone), over repeated runs.
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, sshBench, printTable } from './lib.mjs';

const N = Number(process.env.BENCH_RUNS ?? 5);
const { sshd, web, freePort } = await sshBench('Shutdown');
const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-bench-stop-'));
const env = { ...process.env, LOCALPORT_STATE_DIR: path.join(dir, 'state') };
// Asynchronous on purpose: this process also drains the test sshd's log pipe, so it must not block.
const cli = (...args) =>
  new Promise((resolve) => execFile(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ status: err ? (err.code ?? 1) : 0, stdout, stderr })));

const rows = [];
try {
  for (const count of [20, 50]) {
    const samples = [];
    for (let i = 0; i < N; i++) {
      let yaml = 'services:\n';
      for (let s = 0; s < count; s++) {
        yaml += `  - name: s${s}\n    technology: ssh\n    local_port: ${await freePort()}\n    remote_port: ${web.port}\n    connection: { host: 127.0.0.1, port: ${sshd.port}, key_file: ${sshd.clientKey}, known_hosts_file: ${sshd.knownHosts}, remote_host: 127.0.0.1, options: { KexAlgorithms: curve25519-sha256 } }\n`;
      }
      writeFileSync(path.join(dir, 'localport.yaml'), yaml);
      const start = await cli('start', '--all', '--timeout', '60');
      if (start.status !== 0) throw new Error(`start failed: ${start.stderr}`);
      const stop = await cli('daemon', 'stop', '--json');
      samples.push(JSON.parse(stop.stdout).ms);
    }
    rows.push({ name: `${count} services: localport daemon stop`, samples });
  }
} finally {
  await cli('daemon', 'stop');
  await sshd.stop();
  await web.close();
  rmSync(dir, { recursive: true, force: true });
}
printTable(`Daemon shutdown, request → process gone (${N} runs each; goal: 20 services well under 500 ms)`, rows);
