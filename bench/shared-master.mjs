// Shared ssh masters at scale (issue #13), each part on a shared master (the default) and with
// `share_connection: false` (one ssh connection per service), in LocalPort daemons (`localport start`)
// against one real sshd with its default limits (MaxStartups 10:30:100) and an HTTP server behind it:
//  1. Stampede: 100 services started at once (one `start --all`, ssh's default key exchange as a user
//     has it). Goal: all healthy on the first try (no service with restarts or failed attempts) and no
//     MaxStartups drop in sshd's log. One connection per service is expected to miss it: it is printed.
//  2. kill -9 under load: 10 services on one connection and one service on its own, a client opening a
//     new connection every 20 ms, round robin over all 11. Each round SIGKILLs the single service's ssh
//     (the baseline: kill → HTTP through it again, as bench/recovery.mjs), then the group's carrier: the
//     master (shared), or all 10 ssh processes at once (unshared: the same event, the connection gone)
//     → every one of the 10 answers again. Goals: 0 new connections refused; all 10 back within 1.5× the
//     single tunnel's recovery (medians).
//  3. Hot reload: 20 services; one client connection held open through each front (half an HTTP request);
//     the config file is edited to point one service at another port, the daemon reloads it. Counted:
//     whether the other 19 kept their carrier (same pid), new connections sshd saw, whether the 20 held
//     client connections still complete their request afterwards (the changed one on its old forward, which
//     a reload lets finish), and then the ssh processes' listening sockets added and removed (one forward
//     each is the goal; the old one goes once its connection has ended: up to 5 s is allowed for it).
// Loopback only; about two minutes on 2 cores. `node bench/shared-master.mjs` (in `npm run bench`).
import net from 'node:net';
import { carrierPid, dropLines, establishedTo, getOnce, logins, peers, printTable, projectDaemon, shareKey, sharingSupported, sshBench, stats, unixListeners, untilHttp } from './lib.mjs';

const ROUNDS = Number(process.env.BENCH_RUNS ?? 5);
const STAMPEDE = Number(process.env.BENCH_STAMPEDE ?? 100);
/** A stampede's outcome depends on timing (sshd's drops are random; so is a burst at the master's control socket): 3 tries each. */
const STAMPEDE_RUNS = Number(process.env.BENCH_STAMPEDE_RUNS ?? 3);
const GROUP = 10;
const RELOAD = 20;
/** A client opens a new connection this often during the kill rounds. */
const LOAD_EVERY_MS = 20;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const elapsed = (t0) => Number(process.hrtime.bigint() - t0) / 1e6;

const { sshd, web, freePort } = await sshBench('Shared masters', { needsProc: true });
const { startHttpServer, httpGet } = await peers.net();
const moved = await startHttpServer('moved');
const sharing = await sharingSupported();
const MODES = sharing ? ['shared', 'unshared'] : ['unshared'];
const label = (mode) => (mode === 'shared' ? 'shared master' : sharing ? 'share_connection: false' : 'one connection each (no sharing in this build)');

/** ssh's defaults, as a user has them. */
const plain = { host: '127.0.0.1', port: sshd.port, key_file: sshd.clientKey, known_hosts_file: sshd.knownHosts, strict_host_key_checking: 'yes', remote_host: '127.0.0.1' };
/** bench/recovery.mjs's connection: ServerAlive 1 s × 2, the faster key exchange. */
const quick = { ...plain, server_alive_interval: 1, server_alive_count_max: 2, options: { KexAlgorithms: 'curve25519-sha256' } };
const service = async (name, mode, connection) => ({ name, technology: 'ssh', local_port: await freePort(), remote_port: web.port, ...shareKey(mode, sharing), connection });

const daemons = new Set();
async function startDaemon(services) {
  const d = await projectDaemon(services, 'lp-bench-shm-');
  daemons.add(d);
  const start = await d.cli('start', '--all', '--timeout', '120');
  return { d, start };
}
async function stopDaemon(d) {
  daemons.delete(d);
  await d.stop();
}
const settled = (s) => (s.state === 'ready' && s.health?.state === 'healthy') || s.state === 'failed';
/** Polls status until every service is healthy or failed (or `withinMs` passes); the last status. */
async function settle(d, withinMs = 60000) {
  const until = Date.now() + withinMs;
  for (;;) {
    const st = await d.status();
    if (st.services.every(settled) || Date.now() > until) return st;
    await sleep(100);
  }
}

/** 1. Stampede. */
async function stampede(mode) {
  const services = [];
  for (let i = 0; i < STAMPEDE; i++) services.push(await service(`m${i}`, mode, plain));
  const log0 = sshd.log().length;
  const conn0 = sshd.connections();
  const t0 = process.hrtime.bigint();
  const { d, start } = await startDaemon(services);
  const startMs = elapsed(t0);
  try {
    const st = await settle(d);
    const settledMs = elapsed(t0);
    const log = sshd.log().slice(log0);
    return {
      mode,
      exit: start.status,
      startMs,
      settledMs,
      healthy: st.services.filter((s) => s.state === 'ready' && s.health?.state === 'healthy').length,
      failed: st.services.filter((s) => s.state === 'failed').length,
      retried: st.services.filter((s) => s.restarts > 0 || (s.failedAttempts ?? 0) > 0).length,
      errors: [...new Set(st.services.map((s) => s.lastError).filter(Boolean))],
      drops: dropLines(log),
      connections: sshd.connections() - conn0,
      logins: logins(log),
      established: establishedTo(sshd.port),
    };
  } finally {
    await stopDaemon(d);
  }
}

/** 2. kill -9 under load. */
async function killUnderLoad(mode) {
  const group = [];
  for (let i = 0; i < GROUP; i++) group.push(await service(`g${i}`, mode, quick));
  const single = await service('single', 'unshared', quick);
  const { d, start } = await startDaemon([...group, single]);
  if (start.status !== 0) throw new Error(`kill under load (${mode}): start failed: ${start.stderr}`);
  const ports = [...group, single].map((s) => s.local_port);
  const load = { attempted: 0, ok: 0, refused: 0, cut: 0, timeout: 0, status: 0 };
  let running = true;
  const inflight = new Set();
  const loader = (async () => {
    for (let k = 0; running; k++) {
      const p = getOnce(ports[k % ports.length]).then((r) => {
        load.attempted += 1;
        load[r.ok ? 'ok' : r.error] += 1;
      });
      inflight.add(p);
      void p.finally(() => inflight.delete(p));
      await sleep(LOAD_EVERY_MS);
    }
  })();
  const singleRows = [];
  const groupRows = [];
  const firstRows = [];
  const killed = [];
  try {
    await settle(d);
    for (let r = 0; r < ROUNDS; r++) {
      // Each tunnel healthy a while first: past LocalPort's 1 s window that forgives earlier attempts.
      await sleep(1500);
      const pid = (await d.status()).services.find((s) => s.name === 'single').pid;
      let t0 = process.hrtime.bigint();
      process.kill(pid, 'SIGKILL');
      await sleep(5);
      singleRows.push(await untilHttp(single.local_port, t0));

      await sleep(1500);
      const st = await d.status();
      const victims = [...new Set(st.services.filter((s) => s.name.startsWith('g')).map(carrierPid).filter(Boolean))];
      killed.push(victims.length);
      t0 = process.hrtime.bigint();
      for (const v of victims) process.kill(v, 'SIGKILL');
      await sleep(5);
      const each = await Promise.all(group.map((s) => untilHttp(s.local_port, t0)));
      groupRows.push(Math.max(...each));
      firstRows.push(Math.min(...each));
    }
    running = false;
    await loader;
    await Promise.all([...inflight]);
    const st = await settle(d, 15000);
    return { mode, singleRows, groupRows, firstRows, killed, load, allHealthy: st.services.every((s) => s.state === 'ready' && s.health?.state === 'healthy') };
  } finally {
    running = false;
    await stopDaemon(d);
  }
}

/** Half an HTTP request through `port`, kept open; `finish()` sends the rest: 'ok' (whole answer), 'cut', or 'no answer'. */
function heldClient(port) {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1');
    let data = '';
    let closed = false;
    socket.setEncoding('utf8');
    socket.on('data', (c) => (data += c));
    socket.on('close', () => (closed = true));
    socket.on('error', () => {});
    socket.once('connect', () => {
      socket.write('GET / HTTP/1.1\r\nHost: bench\r\n');
      resolve({
        cutBefore: () => closed,
        finish: () =>
          new Promise((done) => {
            if (closed) return done('cut');
            const timer = setTimeout(() => (socket.destroy(), done('no answer')), 5000);
            socket.once('close', () => {
              clearTimeout(timer);
              done(/^HTTP\/1\.1 200 /.test(data) ? 'ok' : 'cut');
            });
            socket.write('\r\n');
          }),
      });
    });
    socket.once('error', reject);
  });
}

/** 3. Hot reload that changes one service of 20. */
async function reload(mode) {
  const services = [];
  for (let i = 0; i < RELOAD; i++) services.push(await service(`r${i}`, mode, plain));
  const { d, start } = await startDaemon(services);
  if (start.status !== 0) throw new Error(`reload (${mode}): start failed: ${start.stderr}`);
  try {
    await settle(d);
    const json = async () => JSON.parse((await d.cli('status', '--output', 'json')).stdout);
    const before = await json();
    const carriersBefore = new Map(before.services.map((s) => [s.name, carrierPid(s)]));
    const listenersBefore = new Set((await Promise.all([...new Set(carriersBefore.values())].map(unixListeners))).flat());
    const lastReload = (await d.status()).lastReload;
    const clients = await Promise.all(services.map((s) => heldClient(s.local_port)));
    await sleep(200); // the held requests have reached the web server through the tunnels
    const conn0 = sshd.connections();

    services[0] = { ...services[0], remote_port: moved.port };
    const t0 = process.hrtime.bigint();
    d.write(services);
    let reloadMs;
    for (const until = Date.now() + 30000; Date.now() < until; await sleep(20)) {
      const st = await d.status();
      if (st.lastReload === lastReload || !st.services.every((s) => s.state === 'ready')) continue;
      if ((await httpGet(services[0].local_port, '127.0.0.1', 1000).catch(() => '')) !== 'moved') continue;
      reloadMs = elapsed(t0);
      break;
    }
    // The held requests complete now: the changed service's old forward serves its connection to the end
    // (a reload lets connections in flight finish on the old tunnel), and is removed after that.
    const outcomes = await Promise.all(clients.map((c) => c.finish()));
    const after = await json();
    const carriersAfter = new Map(after.services.map((s) => [s.name, carrierPid(s)]));
    let listenersAfter;
    for (const until = Date.now() + 5000; ; await sleep(50)) {
      listenersAfter = new Set((await Promise.all([...new Set(carriersAfter.values())].map(unixListeners))).flat());
      if ([...listenersBefore].some((l) => !listenersAfter.has(l)) || Date.now() > until) break;
    }
    const others = services.slice(1).map((s) => s.name);
    return {
      mode,
      reloadMs,
      added: [...listenersAfter].filter((l) => !listenersBefore.has(l)).length,
      removed: [...listenersBefore].filter((l) => !listenersAfter.has(l)).length,
      listeners: [listenersBefore.size, listenersAfter.size],
      carriers: [new Set(carriersBefore.values()).size, new Set(carriersAfter.values()).size],
      keptCarrier: others.filter((n) => carriersBefore.get(n) === carriersAfter.get(n)).length,
      newConnections: sshd.connections() - conn0,
      othersIntact: outcomes.slice(1).filter((o) => o === 'ok').length,
      changedClient: outcomes[0],
      restartsOfOthers: after.services.filter((s) => others.includes(s.name)).reduce((n, s) => n + s.restarts, 0),
    };
  } finally {
    await stopDaemon(d);
  }
}

const results = { stampede: [], kill: [], reload: [] };
try {
  for (let i = 0; i < STAMPEDE_RUNS; i++) for (const mode of MODES) results.stampede.push(await stampede(mode));
  for (const mode of MODES) results.kill.push(await killUnderLoad(mode));
  for (const mode of MODES) results.reload.push(await reload(mode));
} finally {
  for (const d of daemons) await d.stop().catch(() => {});
  await sshd.stop();
  await web.close();
  await moved.close();
}

const verdict = (ok) => (ok ? 'met' : 'MISSED');
if (!sharing) console.log('\nThis build has no share_connection (no shared masters): every row is one ssh connection per service.');

console.log(`\n1. ${STAMPEDE} SSH services started at once (one \`start --all\`) against one sshd, default MaxStartups 10:30:100, ssh's default key exchange; ${STAMPEDE_RUNS} runs each`);
for (const mode of MODES) {
  const runs = results.stampede.filter((r) => r.mode === mode);
  console.log(`  ${label(mode)}`);
  for (const r of runs) {
    console.log(`    start --all exit ${r.exit} after ${r.startMs.toFixed(0)} ms (all settled ${r.settledMs.toFixed(0)} ms); healthy ${r.healthy} / ${STAMPEDE}, failed ${r.failed}; needed more than one try: ${r.retried}; sshd: ${r.connections} connections, ${r.logins} logins, ${r.drops.length} MaxStartups/drop lines; established once settled: ${r.established}`);
  }
  const errors = [...new Set(runs.flatMap((r) => r.errors))];
  if (errors.length) console.log(`    errors of the services that needed more than one try (${errors.length} distinct): ${errors.slice(0, 2).join(' | ')}`);
  const drops = runs.flatMap((r) => r.drops);
  if (drops.length) console.log(`    sshd said, e.g.: "${drops[0].trim()}"`);
  const ok = runs.every((r) => r.healthy === STAMPEDE && r.retried === 0 && r.drops.length === 0);
  console.log(`    goal: all healthy on the first try, no drop in sshd's log, every run — ${verdict(ok)}${mode === 'unshared' && !ok ? ' (expected: one connection per service is what trips MaxStartups)' : ''}`);
}
console.log(`\n2. kill -9 under load: ${GROUP} services on one connection, a client opening a new connection every ${LOAD_EVERY_MS} ms (round robin over them and a single tunnel), ${ROUNDS} rounds`);
for (const r of results.kill) {
  printTable(
    `  ${label(r.mode)}: kill -9 → HTTP through the forward again`,
    [
      { name: 'single tunnel: its ssh killed (baseline)', samples: r.singleRows },
      { name: `${GROUP} services: ${r.mode === 'shared' ? 'their master' : `all ${GROUP} ssh processes`} killed → all back`, samples: r.groupRows },
      { name: `${GROUP} services: → the first back`, samples: r.firstRows },
    ],
  );
  const l = r.load;
  console.log(`  processes killed per group kill: ${[...new Set(r.killed)].join(', ')}; load: ${l.attempted} connections, ${l.ok} answered, refused ${l.refused}, cut ${l.cut}, timed out ${l.timeout}, non-200 ${l.status}; every service healthy at the end: ${r.allHealthy ? 'yes' : 'NO'}`);
  const ratio = stats(r.groupRows).median / stats(r.singleRows).median;
  console.log(`  goal: 0 new connections refused — ${l.refused} — ${verdict(l.refused === 0)}; all back within 1.5× the single tunnel's recovery — ${ratio.toFixed(2)}× — ${verdict(ratio <= 1.5)}`);
}

console.log(`\n3. Hot reload: the config file edited so that 1 of ${RELOAD} services forwards to another port; a client connection held open through every front`);
for (const r of results.reload) {
  console.log(`  ${label(r.mode)}`);
  console.log(`    reload seen and the changed service answering from its new target: ${r.reloadMs === undefined ? 'NOT WITHIN 30 s' : `${r.reloadMs.toFixed(0)} ms after the write`}`);
  console.log(`    ssh processes carrying the ${RELOAD}: ${r.carriers[0]} before, ${r.carriers[1]} after; listening forward sockets ${r.listeners[0]} → ${r.listeners[1]}: ${r.added} added, ${r.removed} removed`);
  console.log(`    the other ${RELOAD - 1}: kept their carrier (same pid) ${r.keptCarrier}, restarts ${r.restartsOfOthers}, held client connections completed afterwards ${r.othersIntact} / ${RELOAD - 1}; new connections sshd saw: ${r.newConnections}; the changed service's held connection: ${r.changedClient}`);
  const ok = r.added === 1 && r.removed === 1 && r.keptCarrier === RELOAD - 1 && r.othersIntact === RELOAD - 1 && (r.mode !== 'shared' || r.newConnections === 0);
  console.log(`    goal: one forward added and one cancelled, the other ${RELOAD - 1} undisturbed${r.mode === 'shared' ? ', no new connection' : ''} — ${verdict(ok)}`);
}
