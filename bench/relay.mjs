// Relay overhead (issue #12): what LocalPort's front costs on top of a tunnel. The front runs in a
// process of its own, as it will in LocalPort; the client and the servers share this one.
//  1. Through one real ssh tunnel (`ssh -N -L`, a real sshd on 127.0.0.1): a download of BENCH_RELAY_MIB
//     (default 1024 MiB) and 2,000 sequential 64-byte round trips on one keep-alive connection, straight
//     to ssh's listener (baseline) and through the front in front of it.
//  2. The same two against a plain loopback TCP server: a direct connection (baseline) and the front
//     relaying to it (what the in-process `tcp` technology does).
// Throughput is reported as time per download (lower is better); the ratio is against the baseline of
// the same pair, measured in the same run.
import { spawn } from 'node:child_process';
import net from 'node:net';
import { peers, printTable, stats } from './lib.mjs';

const RUNS = Number(process.env.BENCH_RUNS ?? 3);
const MIB = Number(process.env.BENCH_RELAY_MIB ?? 1024);
const RTTS = 2000;
const { freePort } = await peers.net();
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

/**
 * The front in a process of its own, as in LocalPort (the client and the servers of this bench share
 * one event loop; a front inside it would compete with them for it). Prints its port, relays until killed.
 */
const FRONT_PROCESS = `
const net = require('node:net');
import(process.argv[1]).then(async ({ Front }) => {
  const logger = { debug() {}, info() {}, warn() {}, error() {} };
  const front = new Front({ service: 'bench', hosts: ['127.0.0.1'], port: Number(process.argv[2]), holdTimeoutMs: 10000, logger });
  await front.listen();
  front.ready(() => new Promise((resolve, reject) => {
    const s = net.connect({ host: '127.0.0.1', port: Number(process.argv[3]) });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
  }));
  console.log('LISTENING');
});`;

async function frontTo(upstreamPort) {
  const port = await freePort();
  const child = spawn(process.execPath, ['-e', FRONT_PROCESS, new URL('../dist/core/supervisor/front.js', import.meta.url).href, String(port), String(upstreamPort)], { stdio: ['ignore', 'pipe', 'inherit'] });
  await new Promise((resolve, reject) => {
    child.stdout.on('data', (d) => String(d).includes('LISTENING') && resolve());
    child.once('exit', (code) => reject(new Error(`front process exited ${code}`)));
  });
  return { port, front: { close: async () => void child.kill('SIGKILL') } };
}

async function pair(title, directPorts, frontPorts) {
  const dl = { direct: [], front: [] };
  const rtt = { direct: [], front: [] };
  for (let i = 0; i < RUNS; i++) {
    // Alternate the order so neither case always runs on a warmer machine.
    for (const which of i % 2 ? ['front', 'direct'] : ['direct', 'front']) {
      const ports = which === 'direct' ? directPorts : frontPorts;
      dl[which].push(await download(ports.source));
      rtt[which].push(await roundTrips(ports.echo));
    }
  }
  printTable(`${title}: download of ${MIB} MiB (ms; MiB/s at the median: direct ${(MIB / (stats(dl.direct).median / 1000)).toFixed(0)}, front ${(MIB / (stats(dl.front).median / 1000)).toFixed(0)})`, [
    { name: 'direct', samples: dl.direct },
    { name: 'through the front', samples: dl.front },
  ]);
  const us = (xs) => xs.map((x) => x * 1000);
  printTable(`${title}: median of ${RTTS} sequential 64-byte round trips per run`, [
    { name: 'direct', samples: us(rtt.direct) },
    { name: 'through the front', samples: us(rtt.front) },
  ], 'µs');
  console.log(`added median latency: ${(stats(rtt.front).median - stats(rtt.direct).median).toFixed(3)} ms`);
}

console.log(`Relay overhead — ${RUNS} runs per case`);
const cleanups = [];
try {
  // The tcp technology's case: no tunnel, the front relays to the server itself.
  const tcpFront = { source: await frontTo(sourcePort), echo: await frontTo(echoPort) };
  cleanups.push(() => tcpFront.source.front.close(), () => tcpFront.echo.front.close());
  await pair('Plain TCP server', { source: sourcePort, echo: echoPort }, { source: tcpFront.source.port, echo: tcpFront.echo.port });

  const { hasSshd } = await peers.bins();
  if (!hasSshd) {
    console.log('\nThrough ssh: SKIPPED — /usr/sbin/sshd is not installed');
  } else {
    const { startSshd } = await peers.sshd();
    const sshd = await startSshd();
    cleanups.push(() => sshd.stop());
    const local = { source: await freePort(), echo: await freePort() };
    const ssh = spawn('ssh', ['-N', '-o', `UserKnownHostsFile=${sshd.knownHosts}`, '-o', 'StrictHostKeyChecking=yes', '-o', 'BatchMode=yes', '-o', 'ExitOnForwardFailure=yes', '-i', sshd.clientKey, '-p', String(sshd.port),
      '-L', `127.0.0.1:${local.source}:127.0.0.1:${sourcePort}`, '-L', `127.0.0.1:${local.echo}:127.0.0.1:${echoPort}`, `${sshd.user}@127.0.0.1`], { stdio: 'ignore' });
    cleanups.push(() => ssh.kill('SIGKILL'));
    for (let i = 0; ; i++) {
      const ok = await new Promise((r) => net.connect({ host: '127.0.0.1', port: local.echo }).once('connect', function () { this.destroy(); r(true); }).once('error', () => r(false)));
      if (ok) break;
      if (i > 200) throw new Error('ssh forward did not come up');
      await sleep(50);
    }
    const sshFront = { source: await frontTo(local.source), echo: await frontTo(local.echo) };
    cleanups.push(() => sshFront.source.front.close(), () => sshFront.echo.front.close());
    await pair('Through one ssh tunnel', local, { source: sshFront.source.port, echo: sshFront.echo.port });
  }
} finally {
  for (const c of cleanups.reverse()) await c();
  source.close();
  echo.close();
}
