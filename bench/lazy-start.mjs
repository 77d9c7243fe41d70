// Lazy start (issue #12): a `start: lazy` SSH service listens at once and starts its tunnel on the first
// connection, which is held until the tunnel is ready. Measured: from that first connection to its HTTP
// answer, against an eager service of the same definition from `start()` to ready, and to its first HTTP
// answer. Same real sshd and HTTP server, ssh's default options, one service at a time, in this process
// (as time-to-healthy.mjs runs the supervisor). Goal: the lazy first answer within 1.2× the eager
// service's start → first answer.
import http from 'node:http';
import { mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { sshBench, printTable, resolveRaw, stats } from './lib.mjs';

const N = Number(process.env.BENCH_RUNS ?? 10);
const { Supervisor } = await import('../dist/core/supervisor/Supervisor.js');
const { sshd, web, freePort } = await sshBench('Lazy start');
const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-bench-lazy-'));
process.env.LOCALPORT_STATE_DIR = dir;
const connection = { host: '127.0.0.1', port: sshd.port, key_file: sshd.clientKey, known_hosts_file: sshd.knownHosts, strict_host_key_checking: 'yes', remote_host: '127.0.0.1' };
const elapsed = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

/** One GET on a new connection to 127.0.0.1:port; resolves with the body, rejects on any error. */
const get = (port) =>
  new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 15000 }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d) => (body += d));
      res.on('end', () => (res.statusCode === 200 ? resolve(body) : reject(new Error(`HTTP ${res.statusCode}`))));
    });
    req.on('error', reject);
    req.on('timeout', () => req.destroy(new Error('timeout')));
  });

async function supervised(start) {
  const { hub, config } = await resolveRaw({ services: [{ name: 'web', technology: 'ssh', local_port: await freePort(), remote_port: web.port, start, connection }] });
  const sup = new Supervisor(hub);
  return { sup, def: config.services[0] };
}

async function eager() {
  const { sup, def } = await supervised('eager');
  const t0 = process.hrtime.bigint();
  const [result] = await sup.startAll([def]);
  if (!result.ok) throw result.error;
  const ready = elapsed(t0);
  await get(def.localPort);
  const answered = elapsed(t0);
  await sup.stopAll();
  return { ready, answered };
}

async function lazy() {
  const { sup, def } = await supervised('lazy');
  const [result] = await sup.startAll([def]);
  if (!result.ok) throw result.error;
  const service = sup.services.get('web');
  if (service.state !== 'idle' || service.pid !== null) throw new Error(`a lazy service should be idle with no tunnel, is ${service.state} (pid ${service.pid})`);
  const t0 = process.hrtime.bigint();
  await get(def.localPort);
  const answered = elapsed(t0);
  await sup.stopAll();
  return answered;
}

const rows = { ready: [], eager: [], lazy: [] };
try {
  // A warm-up of each, not counted (the first ssh of a run pays for cold caches).
  await eager();
  await lazy();
  for (let i = 0; i < N; i++) {
    // Alternate the order so neither always runs right after the other.
    for (const which of i % 2 ? ['lazy', 'eager'] : ['eager', 'lazy']) {
      if (which === 'lazy') rows.lazy.push(await lazy());
      else {
        const e = await eager();
        rows.ready.push(e.ready);
        rows.eager.push(e.answered);
      }
    }
  }
} finally {
  await sshd.stop();
  await web.close();
  rmSync(dir, { recursive: true, force: true });
}
printTable(`Lazy start through a real sshd (${N} runs each)`, [
  { name: 'eager: start() → first HTTP answer (baseline)', samples: rows.eager },
  { name: 'eager: start() → ready', samples: rows.ready },
  { name: 'lazy: first connection → its HTTP answer', samples: rows.lazy },
]);
const ratio = stats(rows.lazy).median / stats(rows.eager).median;
const ratioReady = stats(rows.lazy).median / stats(rows.ready).median;
console.log(`Goal: lazy first answer within 1.2× eager start → first answer — ${ratio.toFixed(2)}× — ${ratio <= 1.2 ? 'met' : 'MISSED'} (${ratioReady.toFixed(2)}× eager start → ready)`);
