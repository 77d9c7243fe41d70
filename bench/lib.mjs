// Shared benchmark helpers: timing, statistics, table printing, and the real peers from test/helpers
// (loaded through jiti, which LocalPort already depends on for TypeScript configs).
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { createJiti } from 'jiti';

const jiti = createJiti(import.meta.url);
export const peers = {
  sshd: () => jiti.import('../test/helpers/sshd.ts'),
  net: () => jiti.import('../test/helpers/net.ts'),
  bins: () => jiti.import('../test/helpers/peer-bins.ts'),
  kube: () => jiti.import('../test/helpers/kube.ts'),
  procs: () => jiti.import('../test/helpers/procs.ts'),
};

/**
 * What most benches run against: a real sshd on 127.0.0.1 (default limits) and an HTTP server behind
 * it, plus the helpers they use. Without sshd (or, with `needsProc`, without Linux /proc) the bench
 * prints SKIPPED with the reason and the process ends with 0.
 */
export async function sshBench(title, { body = 'bench', needsProc = false } = {}) {
  const { hasSshd } = await peers.bins();
  if (!hasSshd || (needsProc && process.platform !== 'linux')) {
    console.log(`\n${title}: SKIPPED — ${needsProc ? 'needs Linux /proc and ' : ''}/usr/sbin/sshd is not installed (apt-get install openssh-server)`);
    process.exit(0);
  }
  const { startSshd } = await peers.sshd();
  const { startHttpServer, freePort } = await peers.net();
  const { processes, alive } = await peers.procs();
  return { sshd: await startSshd(), web: await startHttpServer(body), freePort, processes, alive };
}

export const BIN = new URL('../dist/cli/bin.js', import.meta.url).pathname;

export function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const median = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  return { min: s[0], median, max: s[s.length - 1], n: s.length };
}

/** Prints rows of { name, samples } with min/median/max and the ratio of medians against the first row. */
export function printTable(title, rows, unit = 'ms') {
  const base = stats(rows[0].samples).median;
  console.log(`\n${title}`);
  const head = ['case', 'n', `min ${unit}`, `median ${unit}`, `max ${unit}`, 'ratio'];
  const body = rows.map((r) => {
    const st = stats(r.samples);
    return [r.name, String(st.n), st.min.toFixed(1), st.median.toFixed(1), st.max.toFixed(1), base > 0 ? `${(st.median / base).toFixed(2)}x` : "-"];
  });
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells) => cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]) : c.padStart(widths[i]))).join('  ');
  console.log(line(head));
  body.forEach((b) => console.log(line(b)));
}

/** Runs a command to completion; resolves with elapsed ms. */
export function timeCommand(cmd, args, opts = {}) {
  return new Promise((resolve, reject) => {
    const t0 = process.hrtime.bigint();
    const child = spawn(cmd, args, { stdio: 'ignore', ...opts });
    child.on('error', reject);
    child.on('exit', (code) => {
      const ms = Number(process.hrtime.bigint() - t0) / 1e6;
      if (code !== 0 && !opts.anyExit) reject(new Error(`${cmd} ${args.join(' ')} exited ${code}`));
      else resolve(ms);
    });
  });
}

/** GET through a forward; true when an answer came back. */
export function httpOk(port) {
  return new Promise((resolve) => {
    import('node:http').then(({ default: http }) => {
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: 500 }, (res) => {
        res.resume();
        res.on('end', () => resolve(true));
      });
      req.on('error', () => resolve(false));
      req.on('timeout', () => req.destroy());
    });
  });
}

/** Polls until an HTTP request through `port` succeeds; ms since t0 (process.hrtime.bigint()). */
export async function untilHttp(port, t0, child) {
  for (;;) {
    if (await httpOk(port)) return Number(process.hrtime.bigint() - t0) / 1e6;
    if (child && child.exitCode !== null) throw new Error(`exited ${child.exitCode}`);
    await new Promise((r) => setTimeout(r, 2));
  }
}

/** A raw config resolved as the CLI resolves it (the built-in plugins, resolveConfig): { hub, config }. */
export async function resolveRaw(raw, file = 'bench.yaml') {
  const { resolveConfig } = await import('../dist/core/config/resolve.js');
  const { builtins } = await import('../dist/app/builtins.js');
  return resolveConfig(raw, { ...builtins(), file });
}

/** A hub with the built-in plugins and a supervisor for one raw service: what the daemon runs. */
export async function superviseOne(rawService) {
  const { Supervisor } = await import('../dist/core/supervisor/Supervisor.js');
  const { hub, config } = await resolveRaw({ services: [rawService] });
  const sup = new Supervisor(hub);
  return { sup, service: sup.add(config.services[0]) };
}

/**
 * Whether this build knows `share_connection` (issue #13's shared ssh masters). Without it every ssh
 * service is its own connection, and a bench's "shared" rows would measure the unshared behaviour:
 * benches print that instead of a misleading figure.
 */
export async function sharingSupported() {
  try {
    await resolveRaw({ services: [{ name: 'probe', technology: 'ssh', local_port: 1, remote_port: 1, share_connection: false, connection: { host: '127.0.0.1' } }] });
    return true;
  } catch {
    return false;
  }
}

/** A raw ssh service's `share_connection` for a mode ('shared' | 'unshared'); absent when the build has no such key. */
export const shareKey = (mode, supported) => (supported && mode === 'unshared' ? { share_connection: false } : {});

/** TCP connections established to 127.0.0.1:`port` (the client side only), counted by `ss -tn`. */
export function establishedTo(port) {
  const out = execFileSync('ss', ['-tnH', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' });
  return out.split('\n').filter((l) => l.trim()).length;
}

/** `ss -tnp`'s lines for the connections established to 127.0.0.1:`port` (which process holds each). */
export const establishedToWho = (port) => execFileSync('ss', ['-tnpH', 'state', 'established', `( dport = :${port} )`], { encoding: 'utf8' }).trim();

/** sshd's log lines that say it shed connections (MaxStartups). */
export const dropLines = (log) => log.split('\n').filter((l) => /MaxStartups|\bdrop(ped)? connection/i.test(l));

/** Successful logins in sshd's log (LogLevel VERBOSE): one per connection that finished its key exchange. */
export const logins = (log) => log.match(/Accepted publickey for /g)?.length ?? 0;

/** A process's resident and proportional set sizes in KiB (0 when it is gone). */
export function memoryKb(pid) {
  try {
    const s = readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8');
    return { rss: Number(/^Rss:\s+(\d+)/m.exec(s)[1]), pss: Number(/^Pss:\s+(\d+)/m.exec(s)[1]) };
  } catch {
    return { rss: 0, pss: 0 };
  }
}

/** The ssh processes under `pid` (any depth): a LocalPort process's tunnels and masters. */
export async function sshUnder(pid) {
  const { processes } = await peers.procs();
  const all = processes();
  const out = [];
  const visit = (p) =>
    all.filter((c) => c.ppid === p).forEach((c) => {
      if (/^(\S*\/)?ssh /.test(c.cmd)) out.push(c);
      visit(c.pid);
    });
  visit(pid);
  return out;
}

/**
 * The process that carries a service's tunnel, from its status: its shared connection's master when it
 * rides on one (`connection.pid`), else its own ssh (`pid`).
 */
export const carrierPid = (status) => status.connection?.pid ?? status.pid;

/**
 * A LocalPort daemon of its own project (a temp dir with `localport.yaml` and its own state dir) for
 * `services` (raw, as a user writes them): { dir, file, cli(...args), status(), write(services), stop() }.
 * `status()` asks over the control socket (no CLI start-up per poll); `cli` runs the built CLI there.
 */
export async function projectDaemon(services, prefix = 'lp-bench-') {
  const { execFile } = await import('node:child_process');
  const { mkdtempSync, rmSync, writeFileSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const path = await import('node:path');
  const { request } = await import('../dist/app/control/client.js');
  const { daemonPaths } = await import('../dist/app/control/sockets.js');
  const dir = mkdtempSync(path.join(tmpdir(), prefix));
  const env = { ...process.env, LOCALPORT_STATE_DIR: path.join(dir, 'state') };
  const file = path.join(dir, 'localport.yaml');
  // JSON is YAML: one service per line keeps the file readable when a run leaves it behind.
  const write = (list) => writeFileSync(file, `services:\n${list.map((s) => `  - ${JSON.stringify(s)}\n`).join('')}`);
  write(services);
  const socket = daemonPaths(file, env).socket;
  const cli = (...args) => new Promise((resolve) => execFile(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ status: err ? (err.code ?? 1) : 0, stdout, stderr })));
  return {
    dir,
    file,
    cli,
    write,
    status: () => request(socket, 'status', { names: [] }),
    async stop() {
      await cli('daemon', 'stop');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/**
 * The listening Unix sockets a process holds, as `inode path` strings: an ssh forward behind a front
 * listens on one (`-L /path:…`, or a forward a master added). A forward cancelled and added again is a
 * new socket (new inode) even at the same path.
 */
export async function unixListeners(pid) {
  const { readdirSync, readlinkSync } = await import('node:fs');
  const listening = new Map();
  // /proc/net/unix: Num RefCount Protocol Flags Type St Inode Path; __SO_ACCEPTCON (0x10000) marks a listener.
  for (const line of readFileSync('/proc/net/unix', 'utf8').split('\n').slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length >= 8 && (parseInt(f[3], 16) & 0x10000) !== 0) listening.set(f[6], f[7]);
  }
  const out = [];
  try {
    for (const fd of readdirSync(`/proc/${pid}/fd`)) {
      try {
        const inode = /^socket:\[(\d+)\]$/.exec(readlinkSync(`/proc/${pid}/fd/${fd}`))?.[1];
        if (inode && listening.has(inode)) out.push(`${inode} ${listening.get(inode)}`);
      } catch {
        /* closed meanwhile */
      }
    }
  } catch {
    /* gone */
  }
  return out;
}

/**
 * One GET on a new connection: { ok, error, ms, body }. error: 'refused' (ECONNREFUSED: nobody
 * listened), 'cut' (reset or closed before a whole answer), 'timeout' (no answer in `timeoutMs`; keep it
 * longer than the front's hold bound so the front, not the client, decides), 'status' (not a 200).
 */
export function getOnce(port, timeoutMs = 15000) {
  return new Promise((resolve) => {
    import('node:http').then(({ default: http }) => {
      const t0 = process.hrtime.bigint();
      let body = '';
      const done = (ok, error) => resolve({ ok, error, ms: Number(process.hrtime.bigint() - t0) / 1e6, body });
      let timedOut = false;
      const req = http.get({ host: '127.0.0.1', port, path: '/', agent: false, timeout: timeoutMs }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (c) => (body += c));
        res.on('end', () => done(res.statusCode === 200, res.statusCode === 200 ? undefined : 'status'));
        res.on('error', () => done(false, 'cut'));
      });
      req.on('error', (e) => done(false, timedOut ? 'timeout' : e.code === 'ECONNREFUSED' ? 'refused' : 'cut'));
      req.on('timeout', () => {
        timedOut = true;
        req.destroy();
      });
    });
  });
}
