// Makes docs/dashboard.png, the README's picture of the dashboard: a daemon with a few services in
// different states (ready with traffic, restarting with its next retry, failed, stopped), the page in
// Debian's Chromium driven by playwright-core (a devDependency; it downloads no browser), light mode.
//
//   npm run build && node scripts/dashboard-screenshot.mjs [out.png]
//
// Self-contained: the services are `tcp` and `exec` ones against a TCP server this script runs, so no
// sshd or cluster is needed. Everything runs in a temporary directory and is stopped at the end.
import { execFile } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.dirname(path.dirname(fileURLToPath(import.meta.url)));
const BIN = path.join(root, 'dist', 'cli', 'bin.js');
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const out = path.resolve(process.argv[2] ?? path.join(root, 'docs', 'dashboard.png'));
if (!existsSync(BIN)) throw new Error('build first: npm run build');
if (!existsSync(CHROMIUM)) throw new Error(`no Chromium at ${CHROMIUM}: apt-get install chromium (or set CHROMIUM)`);

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-screenshot-'));
const env = { ...process.env, LOCALPORT_STATE_DIR: path.join(dir, 'state'), NO_COLOR: '1' };
const cli = (...args) => new Promise((resolve) => execFile(process.execPath, [BIN, ...args], { cwd: dir, env, encoding: 'utf8' }, (err, stdout, stderr) => resolve({ code: err ? (err.code ?? 1) : 0, stdout, stderr })));
const freePort = () =>
  new Promise((resolve) => {
    const s = net.createServer().listen(0, '127.0.0.1', () => {
      const { port } = s.address();
      s.close(() => resolve(port));
    });
  });

// The "database" behind the tunnels: echoes what it gets.
const target = net.createServer((c) => c.on('data', (d) => c.write(d)).on('error', () => {}));
await new Promise((r) => target.listen(0, '127.0.0.1', r));
const targetPort = target.address().port;

// An exec tunnel that serves for two seconds, then dies: the service goes on restarting (a minute's delay).
const flaky = "const s=require('net').createServer(c=>c.end()).listen(+process.argv[2],process.argv[1]);setTimeout(()=>process.exit(1),2000)";
const ports = { postgres: await freePort(), orders: await freePort(), search: await freePort(), redis: await freePort() };
writeFileSync(
  path.join(dir, 'localport.yaml'),
  `services:
  - name: postgres
    technology: tcp
    local_port: ${ports.postgres}
    remote_port: ${targetPort}
    tags: [db]
    connection: { host: 127.0.0.1 }
  - name: orders-api
    technology: exec
    local_port: ${ports.orders}
    remote_port: 8080
    tags: [web]
    restart_policy: { initial_delay: 60 }
    connection: { command: ${JSON.stringify(process.execPath)}, args: ["-e", ${JSON.stringify(flaky)}, "{bindAddress}", "{localPort}"] }
  - name: search
    technology: exec
    local_port: ${ports.search}
    remote_port: 9200
    tags: [web]
    connection: { command: ${JSON.stringify(process.execPath)}, args: ["-e", "process.exit(3)"] }
  - name: redis
    technology: tcp
    local_port: ${ports.redis}
    remote_port: ${targetPort}
    tags: [cache]
    connection: { host: 127.0.0.1 }
`,
);

let context;
try {
  await cli('start', 'postgres', 'orders-api', 'search', '--timeout', '20');
  // Some traffic through postgres.
  for (let i = 0; i < 3; i++) {
    await new Promise((resolve) => {
      const c = net.connect(ports.postgres, '127.0.0.1', () => c.write('SELECT 1;'.repeat(200)));
      c.on('data', () => c.end());
      c.on('close', resolve);
      c.on('error', resolve);
    });
  }
  const ui = await cli('ui', '--no-open', '--output', 'json');
  if (ui.code !== 0) throw new Error(ui.stderr);
  const { url } = JSON.parse(ui.stdout);

  const { chromium } = await import('playwright-core');
  context = await chromium.launchPersistentContext(path.join(dir, 'chromium'), {
    executablePath: CHROMIUM,
    headless: true,
    colorScheme: 'light',
    viewport: { width: 1280, height: 860 },
    deviceScaleFactor: 1,
    args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
  });
  const page = context.pages()[0] ?? (await context.newPage());
  await page.goto(url);
  const state = (name) => page.locator(`article.service[data-service="${name}"] .badge.state .text`);
  await state('orders-api').filter({ hasText: 'restarting' }).waitFor({ timeout: 20000 });
  await page.locator('article.service[data-service="postgres"] summary').click();
  await page.locator('article.service[data-service="postgres"] .log .lines').filter({ hasText: 'ready' }).waitFor({ timeout: 10000 });
  // Move the pointer and focus out of the picture.
  await page.mouse.move(0, 0);
  await page.evaluate(() => document.activeElement?.blur());
  await page.screenshot({ path: out, fullPage: true });
  process.stdout.write(`wrote ${path.relative(process.cwd(), out)}\n`);
} finally {
  await context?.close().catch(() => {});
  await cli('daemon', 'stop');
  target.close();
  rmSync(dir, { recursive: true, force: true });
}
