// Time until one SSH forward is ready, against bare `ssh -N -L` started by hand, both through the
// same real sshd on 127.0.0.1 with a real HTTP server behind it. "Ready" = an HTTP request through the
// forward succeeds, timed from the moment the tunnel process (or LocalPort) is spawned.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, httpOk, peers, printTable, superviseOne, untilHttp } from './lib.mjs';

const N = Number(process.env.BENCH_RUNS ?? 10);
const { hasSshd } = await peers.bins();
if (!hasSshd) {
  console.log('\nSSH ready: SKIPPED — /usr/sbin/sshd is not installed (apt-get install openssh-server)');
  process.exit(0);
}
const { startSshd } = await peers.sshd();
const { startHttpServer, freePort } = await peers.net();

const sshd = await startSshd();
const web = await startHttpServer('bench');
const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-bench-'));
const kex = ['-o', 'KexAlgorithms=curve25519-sha256'];
const common = ['-o', `UserKnownHostsFile=${sshd.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-i', sshd.clientKey, '-p', String(sshd.port), ...kex];

const bare = [];
const lib = [];
const cli = [];
try {
  process.env.LOCALPORT_STATE_DIR = dir;

  for (let i = 0; i < N; i++) {
    // 1. bare ssh, polled with HTTP requests every 2 ms.
    let port = await freePort();
    let t0 = process.hrtime.bigint();
    const ssh = spawn('ssh', ['-N', ...common, '-L', `127.0.0.1:${port}:127.0.0.1:${web.port}`, '127.0.0.1'], { stdio: 'ignore' });
    bare.push(await untilHttp(port, t0, ssh));
    ssh.kill('SIGTERM');
    await new Promise((r) => ssh.once('exit', r));

    // 2. LocalPort's supervisor (the library, as the daemon runs it): start() resolves when ready.
    port = await freePort();
    const { sup, service } = await superviseOne({
      name: 'web',
      technology: 'ssh',
      local_port: port,
      remote_port: web.port,
      connection: { host: '127.0.0.1', port: sshd.port, key_file: sshd.clientKey, known_hosts_file: sshd.knownHosts, strict_host_key_checking: 'yes', remote_host: '127.0.0.1', options: { KexAlgorithms: 'curve25519-sha256' } },
    });
    t0 = process.hrtime.bigint();
    await service.start();
    if (!(await httpOk(port))) throw new Error('LocalPort said ready but the forward did not answer');
    lib.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await sup.stopAll();

    // 3. The whole CLI: `localport run web -- true`, node start-up and config load included.
    port = await freePort();
    writeFileSync(
      path.join(dir, 'localport.yaml'),
      `services:\n  - name: web\n    technology: ssh\n    local_port: ${port}\n    remote_port: ${web.port}\n    connection:\n      host: 127.0.0.1\n      port: ${sshd.port}\n      key_file: ${sshd.clientKey}\n      known_hosts_file: ${sshd.knownHosts}\n      strict_host_key_checking: "yes"\n      remote_host: 127.0.0.1\n      options:\n        KexAlgorithms: curve25519-sha256\n`,
    );
    t0 = process.hrtime.bigint();
    // The command runs only once the service is ready; it prints, and we stop the clock there.
    const run = spawn(process.execPath, [BIN, 'run', '--', process.execPath, '-e', 'console.log("READY")'], { cwd: dir, stdio: ['ignore', 'pipe', 'ignore'], env: { ...process.env, LOCALPORT_STATE_DIR: dir } });
    await new Promise((resolve) => run.stdout.on('data', (d) => String(d).includes('READY') && resolve()));
    cli.push(Number(process.hrtime.bigint() - t0) / 1e6);
    await new Promise((r) => run.once('exit', r));
  }
} finally {
  await sshd.stop();
  await web.close();
  rmSync(dir, { recursive: true, force: true });
}
printTable(`SSH forward ready, spawn → first HTTP answer through the tunnel (${N} runs each)`, [
  { name: 'bare ssh -N -L (polled every 2 ms)', samples: bare },
  { name: 'LocalPort supervisor start()', samples: lib },
  { name: 'localport run -- cmd (whole CLI)', samples: cli },
]);
