// The daemon's HTTP server (the dashboard, /metrics): what it costs an idle daemon with 50 SSH
// services (as bench/footprint.mjs runs them). Four daemons, one after the other, in one run:
//   1. no HTTP server (the default until `localport ui`, or a ui.port in the config);
//   2. the HTTP server started (`localport ui --no-open`), nobody requesting anything;
//   3. the HTTP server with a client scraping /metrics every 15 s (a Prometheus: prom-client is loaded);
//   4. the dashboard open in headless Chromium (Debian's, driven by playwright-core), one log panel
//      open: its event streams are connected for the whole window (skipped without /usr/bin/chromium).
// Each is sampled every second for BENCH_UI_SECONDS (default 60 s): RSS and CPU% of one core; CPU is
// also given over the whole window. Goals (issue #14): RSS grows by less than 15 MiB with the server;
// idle CPU with the page open under 1 % of a core.
import http from 'node:http';
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { BIN, sshBench, printTable, stats } from './lib.mjs';

const SECONDS = Number(process.env.BENCH_UI_SECONDS ?? 60);
const SCRAPE_EVERY_S = 15;
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const COUNT = 50;
const { sshd, web, freePort } = await sshBench('HTTP server footprint', { body: 'bench', needsProc: true });
const TICK = 100; // USER_HZ
const cpuTicks = (pid) => {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return Number(f[11]) + Number(f[12]);
};
const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

function get(url) {
  return new Promise((resolve, reject) => {
    const t0 = performance.now();
    http
      .get(url, { agent: false }, (res) => {
        let body = '';
        res.setEncoding('utf8').on('data', (c) => (body += c));
        res.on('end', () => (res.statusCode === 200 ? resolve({ ms: performance.now() - t0, bytes: body.length }) : reject(new Error(`HTTP ${res.statusCode}`))));
      })
      .on('error', reject);
  });
}

/** The dashboard at `url` in headless Chromium, live (its event stream connected), s0's log panel open. */
async function openPage(url, dir) {
  const { chromium } = await import('playwright-core');
  const context = await chromium.launchPersistentContext(path.join(dir, 'chromium'), {
    executablePath: CHROMIUM,
    headless: true,
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(url);
  await page.locator('#link[data-link="live"]').waitFor({ timeout: 30000 });
  await page.locator('article.service[data-service="s0"] summary').click();
  await page.locator('article.service[data-service="s0"] .log .lines').filter({ hasText: 'ready' }).waitFor({ timeout: 30000 });
  return context;
}

/** One daemon with COUNT ssh services; `mode`: 'none' | 'server' | 'scrape' | 'page'. */
async function measure(mode) {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-bench-ui-'));
  const env = { ...process.env, LOCALPORT_STATE_DIR: path.join(dir, 'state') };
  const cli = (...args) => new Promise((resolve) => execFile(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ status: err ? 1 : 0, stdout, stderr })));
  const rss = [];
  const cpu = [];
  const scrapes = [];
  let windowCpu = 0;
  let browser;
  try {
    let yaml = 'services:\n';
    for (let s = 0; s < COUNT; s++) {
      yaml += `  - name: s${s}\n    technology: ssh\n    local_port: ${await freePort()}\n    remote_port: ${web.port}\n    connection: { host: 127.0.0.1, port: ${sshd.port}, key_file: ${sshd.clientKey}, known_hosts_file: ${sshd.knownHosts}, remote_host: 127.0.0.1 }\n`;
    }
    writeFileSync(path.join(dir, 'localport.yaml'), yaml);
    const start = await cli('start', '--all', '--timeout', '60');
    if (start.status !== 0) throw new Error(start.stderr);
    const pid = JSON.parse((await cli('status', '--json')).stdout).runner.pid;
    let url;
    if (mode !== 'none') {
      const ui = await cli('ui', '--no-open', '--output', 'json');
      if (ui.status !== 0) throw new Error(ui.stderr);
      url = JSON.parse(ui.stdout).url;
      if (mode === 'page') browser = await openPage(url, dir);
      url = url.replace('/?token=', '/metrics?token=');
    }
    await new Promise((r) => setTimeout(r, 2000)); // let start-up settle
    const first = cpuTicks(pid);
    let last = first;
    for (let i = 0; i < SECONDS; i++) {
      if (mode === 'scrape' && i % SCRAPE_EVERY_S === 0) scrapes.push(await get(url));
      await new Promise((r) => setTimeout(r, 1000));
      const now = cpuTicks(pid);
      cpu.push(((now - last) / TICK) * 100);
      last = now;
      rss.push(rssKb(pid) / 1024);
    }
    windowCpu = ((last - first) / TICK / SECONDS) * 100;
  } finally {
    await browser?.close().catch(() => {});
    await cli('daemon', 'stop');
    rmSync(dir, { recursive: true, force: true });
  }
  return { rss, cpu, windowCpu, scrapes };
}

const runs = [];
try {
  runs.push({ name: 'no HTTP server (baseline)', ...(await measure('none')) });
  runs.push({ name: 'HTTP server, idle', ...(await measure('server')) });
  runs.push({ name: `HTTP server, /metrics every ${SCRAPE_EVERY_S} s`, ...(await measure('scrape')) });
  if (existsSync(CHROMIUM)) runs.push({ name: 'dashboard open in Chromium', ...(await measure('page')) });
  else console.log(`\ndashboard open in Chromium: SKIPPED — no ${CHROMIUM} (apt-get install chromium)`);
} finally {
  await sshd.stop();
  await web.close();
}
printTable(`Daemon idle with ${COUNT} SSH services: RSS, sampled every 1 s for ${SECONDS} s`, runs.map((r) => ({ name: r.name, samples: r.rss })), 'MiB');
printTable(`Daemon idle with ${COUNT} SSH services: CPU% of one core, per 1 s sample`, runs.map((r) => ({ name: r.name, samples: r.cpu })), '%');
for (const r of runs) console.log(`${r.name}: CPU over the whole ${SECONDS} s: ${r.windowCpu.toFixed(2)} % of one core`);
const scrapes = runs[2].scrapes;
if (scrapes.length) printTable(`/metrics with ${COUNT} services: time to the whole answer (${scrapes[0].bytes} bytes), first scrape loads prom-client`, [{ name: 'scrape', samples: scrapes.map((s) => s.ms) }], 'ms');
const base = stats(runs[0].rss).median;
for (const r of runs.slice(1)) {
  const grew = stats(r.rss).median - base;
  console.log(`${r.name}: RSS ${grew >= 0 ? '+' : ''}${grew.toFixed(1)} MiB over the baseline (goal < 15 MiB) — ${grew < 15 ? 'met' : 'MISSED'}`);
}
console.log(`CPU with /metrics scraped every ${SCRAPE_EVERY_S} s: ${runs[2].windowCpu.toFixed(2)} % of one core`);
if (runs[3]) console.log(`CPU with the dashboard open: ${runs[3].windowCpu.toFixed(2)} % of one core (goal < 1 %) — ${runs[3].windowCpu < 1 ? 'met' : 'MISSED'}`);
