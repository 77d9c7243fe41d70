import http from 'node:http';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, expect, it } from '@jest/globals';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { runCli } from '../helpers/cli.js';
import { stopProjects, type TestProject } from '../helpers/daemons.js';
import { freePort, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { CHROMIUM, describeWithPeer, hasChromium, hasSshd } from '../helpers/peers.js';
import { alive, waitUntil } from '../helpers/procs.js';
import { sshConnection, startSshd, type SshdPeer } from '../helpers/sshd.js';

// Issue #14, acceptance 4: the dashboard in a real browser. Debian's Chromium, driven by playwright-core
// (which downloads no browser), opens the page of a daemon that runs two ssh services through a real
// sshd, each with its own ssh process (share_connection: false), so that killing one tunnel concerns one
// service. Everything the page shows after it loaded arrives over its event stream: the test checks
// that the page was never loaded again.

interface Status {
  services: { name: string; state: string; pid: number | null; health: { state: string } | null }[];
}

describeWithPeer('Chromium (/usr/bin/chromium) and OpenSSH sshd', hasChromium && hasSshd, 'the web dashboard in a real browser', () => {
  const root = mkdtempSync(path.join(os.tmpdir(), 'lp-e2e-dashboard-'));
  const projects: TestProject[] = [];
  let sshd: SshdPeer;
  let web: HttpPeer;
  let other: HttpPeer;
  let context: BrowserContext | undefined;
  let browser: Browser | null = null;
  let page: Page;
  let dir: string;
  let file: string;
  let env: NodeJS.ProcessEnv;
  let url: URL;
  let valid: string;
  const requests: string[] = [];

  const cli = (...args: string[]) => runCli(args, { cwd: dir, env, timeoutMs: 60000 });
  const status = async (): Promise<Status> => JSON.parse((await cli('status', '--output', 'json')).stdout) as Status;
  const service = (name: string) => page.locator(`article.service[data-service="${name}"]`);
  const stateOf = (name: string) => service(name).locator('.badge.state .text');
  const healthOf = (name: string) => service(name).locator('.badge.health .text');
  /** Until the locator's text is `text` (the page updates itself; nothing here reloads it). */
  const showing = async (loc: ReturnType<typeof stateOf>, text: string, withinMs = 20000) =>
    waitUntil(async () => (await loc.textContent()) === text, withinMs, `the page to show ${text}`);

  beforeAll(async () => {
    [sshd, web, other] = await Promise.all([startSshd(), startHttpServer('behind the tunnel'), startHttpServer('another site')]);
    dir = mkdtempSync(path.join(root, 'p-'));
    env = { LOCALPORT_STATE_DIR: path.join(dir, 'state') };
    projects.push({ dir, env });
    file = path.join(dir, 'localport.yaml');
    const c = sshConnection(sshd);
    const ssh = (name: string, port: number, tags: string[], extra = '', remoteHost = '127.0.0.1') => `  - name: ${name}
    technology: ssh
    local_port: ${port}
    remote_port: ${web.port}
    tags: [${tags.join(', ')}]
    share_connection: false
    health_check: { type: tcp, interval: 0.5 }
    # A second between a lost tunnel and its restart: long enough to see, short enough for the suite.
    restart_policy: { initial_delay: 1 }
${extra}    connection: { host: 127.0.0.1, port: ${c.port}, user: ${c.user}, key_file: ${c.key_file}, known_hosts_file: ${c.known_hosts_file}, remote_host: ${remoteHost}, options: { KexAlgorithms: curve25519-sha256 } }
`;
    // d rides on a shared OpenSSH master: its card names that connection.
    valid = `services:\n${ssh('a', await freePort(), ['db'])}${ssh('b', await freePort(), ['db', 'web'])}${ssh('c', await freePort(), ['web'], '    enabled: false\n', '"${LOCALPORT_TEST_UNSET_HOST}"')}${ssh('d', await freePort(), []).replace('share_connection: false', 'share_connection: true')}`;
    writeFileSync(file, valid);
    const started = await cli('start');
    expect({ code: started.code, stderr: started.stderr }).toEqual({ code: 0, stderr: expect.any(String) });
    const ui = await cli('ui', '--no-open', '--output', 'json');
    expect(ui.code).toBe(0);
    url = new URL((JSON.parse(ui.stdout) as { url: string }).url);

    const { chromium } = await import('playwright-core');
    const profile = mkdtempSync(path.join(root, 'chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      colorScheme: 'light',
      args: [...(process.getuid?.() === 0 ? ['--no-sandbox'] : []), '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--no-first-run', '--disable-sync', '--disable-quic'],
    });
    browser = context.browser();
    page = context.pages()[0] ?? (await context.newPage());
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // The one refusal the page meets on purpose (starting c) is answered 400.
    page.on('console', (m) => m.type() === 'error' && !/status of 400/.test(m.text()) && errors.push(m.text()));
    page.on('request', (r) => requests.push(`${r.method()} ${new URL(r.url()).pathname}`));
    await page.goto(url.href);
    // The page's own errors (a CSP violation, a script error) fail the test at its end.
    (page as Page & { errors?: string[] }).errors = errors;

  }, 120000);

  afterAll(async () => {
    await context?.close().catch(() => {});
    await browser?.close().catch(() => {});
    await stopProjects(projects);
    await Promise.all([sshd?.stop(), web?.close(), other?.close()]);
    rmSync(root, { recursive: true, force: true });
  }, 60000);

  it('shows both services healthy, then a killed tunnel restarting and healthy again, live, without a reload; and its log', async () => {
    for (const name of ['a', 'b']) {
      await showing(stateOf(name), 'ready');
      await showing(healthOf(name), 'healthy');
    }
    await expect(stateOf('c').textContent()).resolves.toBe('unresolved');
    expect(await service('a').locator('.target').textContent()).toContain(`127.0.0.1:${web.port}`);
    // A marker that a reload (or a new document) would lose.
    await page.evaluate(() => ((globalThis as unknown as { marker: number }).marker = 42));
    await service('a').locator('summary').click();
    const log = service('a').locator('.log .lines');
    await waitUntil(async () => /state starting → ready/.test((await log.textContent()) ?? ''), 10000, "a's log tail to show its start");

    const before = (await status()).services.find((s) => s.name === 'a')!;
    expect(before.pid).toEqual(expect.any(Number));
    process.kill(before.pid!, 'SIGKILL');
    await showing(stateOf('a'), 'restarting', 5000);
    // The last check was on the tunnel that is gone: not "healthy" beside "restarting".
    expect(await healthOf('a').textContent()).toBe('unknown');
    // The restart, and its reason, as the page shows them meanwhile.
    expect(await service('a').locator('.restarts').textContent()).toMatch(/attempt 1/);
    expect(await service('a').locator('.error').textContent()).toMatch(/ssh process|signal|exited/i);
    await showing(stateOf('a'), 'ready');
    await showing(healthOf('a'), 'healthy');
    expect(await service('a').locator('.restarts').textContent()).toMatch(/^1\b/);
    // b, with its own ssh, was not touched.
    expect(await stateOf('b').textContent()).toBe('ready');
    // The log panel followed: the loss and the restart are in it.
    await waitUntil(async () => /state ready → restarting/.test((await log.textContent()) ?? ''), 10000, "a's log tail to show the restart");
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42);
    // All of it came over the two event streams, opened once each: the page never polled.
    expect([...requests].sort()).toEqual(['GET /', 'GET /api/events', 'GET /api/logs', 'GET /dashboard.css', 'GET /dashboard.js', 'GET /favicon.svg']);
  }, 60000);

  it('stops a service with its button: its tunnel process is gone; a daemon error shows in the page', async () => {
    const b = (await status()).services.find((s) => s.name === 'b')!;
    expect(alive(b.pid!)).toBe(true);
    await page.getByRole('button', { name: 'Stop b', exact: true }).click();
    await showing(stateOf('b'), 'stopped');
    await waitUntil(() => !alive(b.pid!), 5000, `b's ssh (pid ${b.pid}) to exit`);
    expect((await status()).services.find((s) => s.name === 'b')!.state).toBe('stopped');
    // c needs a variable the daemon's environment lacks: the daemon refuses to start it, and the page says why.
    await page.getByRole('button', { name: 'Start c', exact: true }).click();
    const failure = page.locator('#failure');
    await failure.waitFor({ state: 'visible', timeout: 5000 });
    // The hint is about the daemon's environment (the page's user runs no command with an environment).
    expect(await page.locator('#failure-text').textContent()).toMatch(/^Could not start c: .*LOCALPORT_TEST_UNSET_HOST is not set.*\(The daemon has the environment of the command that started it/);
    // And a tag's button starts b again (a is running already).
    await page.getByRole('button', { name: 'Start the services tagged web', exact: true }).click();
    await showing(stateOf('b'), 'ready');
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42);
  }, 60000);

  it('shows a banner while the config on disk is invalid, and clears it once a reload applies', async () => {
    const banner = page.locator('#reload');
    expect(await banner.isVisible()).toBe(false);
    writeFileSync(file, valid.replace('local_port:', 'local_port: not-a-port #'));
    await banner.waitFor({ state: 'visible', timeout: 10000 });
    expect(await page.locator('#reload-error').textContent()).toMatch(/local_port/);
    // The services kept running.
    expect(await stateOf('a').textContent()).toBe('ready');
    writeFileSync(file, valid);
    await banner.waitFor({ state: 'hidden', timeout: 10000 });
    expect(await page.evaluate(() => (globalThis as unknown as { marker?: number }).marker)).toBe(42);
    expect((page as Page & { errors?: string[] }).errors).toEqual([]);
  }, 30000);

  it('refuses with 403 a request without the token, a POST with the token in the query, and a POST from another origin', async () => {
    const token = url.searchParams.get('token')!;
    const req = (method: string, target: string, headers: Record<string, string> = {}, body?: string) =>
      new Promise<{ status: number; body: string }>((resolve, reject) => {
        const r = http.request({ host: '127.0.0.1', port: Number(url.port), method, path: target, headers: { ...headers, ...(body ? { 'Content-Length': String(Buffer.byteLength(body)) } : {}) } }, (res) => {
          let data = '';
          res.setEncoding('utf8').on('data', (c: string) => (data += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data }));
        });
        r.on('error', reject);
        r.end(body);
      });
    const json = { 'Content-Type': 'application/json' };
    const stopA = JSON.stringify({ names: ['a'] });
    expect(await req('GET', '/')).toEqual({ status: 403, body: 'forbidden\n' });
    expect(await req('GET', '/api/events')).toEqual({ status: 403, body: 'forbidden\n' });
    expect(await req('POST', `/api/stop?token=${token}`, json, stopA)).toEqual({ status: 403, body: 'forbidden\n' });
    expect(await req('POST', '/api/stop', { ...json, Authorization: `Bearer ${token}`, Origin: `http://127.0.0.1:${other.port}` }, stopA)).toEqual({ status: 403, body: 'forbidden\n' });
    // What a page of another site can make a browser send without asking (no preflight): a form-like POST
    // with a leaked URL's token. The real browser sends it; the daemon refuses it.
    const attacker = await context!.newPage();
    await attacker.goto(`http://127.0.0.1:${other.port}/`);
    await attacker.evaluate(async (target) => {
      await fetch(target, { method: 'POST', mode: 'no-cors', headers: { 'Content-Type': 'text/plain' }, body: '{"names":["a"]}' });
    }, `${url.origin}/api/stop?token=${token}`);
    await attacker.close();
    // Errors of the daemon come back as JSON.
    const unknown = await req('POST', '/api/start', { ...json, Authorization: `Bearer ${token}` }, JSON.stringify({ names: ['nope'] }));
    expect(unknown.status).toBe(400);
    expect(JSON.parse(unknown.body)).toMatchObject({ ok: false, error: { code: expect.any(String), message: expect.stringMatching(/nope/) } });
    // None of the refused requests stopped a.
    await new Promise((r) => setTimeout(r, 300));
    expect((await status()).services.find((s) => s.name === 'a')!.state).toBe('ready');
    expect(await stateOf('a').textContent()).toBe('ready');
  }, 30000);

  it('fits a narrow window: no sideways scrolling, no address broken inside, the target said once, each log panel named after its service', async () => {
    // Measured in the page (a string: this file is type-checked without the DOM's types).
    const measure = `(() => {
      const width = document.documentElement.clientWidth;
      const over = [...document.querySelectorAll('.group-list li, article.service, .facts dd')].filter((el) => el.getBoundingClientRect().right > width + 0.5).map((el) => el.className || el.tagName);
      // A word (an address) laid out on more than one line; only one wider than the whole card may be (a last resort).
      const broken = [];
      for (const dd of document.querySelectorAll('.facts dd')) {
        const walker = document.createTreeWalker(dd, NodeFilter.SHOW_TEXT);
        const chars = [];
        for (let n = walker.nextNode(); n; n = walker.nextNode())
          for (let i = 0; i < n.textContent.length; i++) {
            const r = document.createRange();
            r.setStart(n, i);
            r.setEnd(n, i + 1);
            chars.push({ c: n.textContent[i], top: Math.round(r.getBoundingClientRect().top) });
          }
        let word = [];
        for (const ch of [...chars, { c: ' ', top: 0 }]) {
          if (!/\\s/.test(ch.c)) { word.push(ch); continue; }
          if (new Set(word.map((w) => w.top)).size > 1) {
            const text = word.map((w) => w.c).join('');
            const probe = Object.assign(document.createElement('span'), { textContent: text });
            probe.style.whiteSpace = 'nowrap';
            dd.append(probe);
            if (probe.getBoundingClientRect().width <= dd.closest('.facts').clientWidth) broken.push(text);
            probe.remove();
          }
          word = [];
        }
      }
      return { scrollWidth: document.documentElement.scrollWidth, width, over, broken };
    })()`;
    await showing(stateOf('d'), 'ready');
    // All of it measured, then compared at once: a failure shows every defect.
    const layouts: unknown[] = [];
    try {
      // A phone, and two columns of cards that are each barely wider than their minimum.
      for (const width of [380, 740]) {
        await page.setViewportSize({ width, height: 900 });
        const m = (await page.evaluate(measure)) as { scrollWidth: number; width: number; over: string[]; broken: string[] };
        layouts.push({ viewport: width, sideways: m.scrollWidth - m.width, over: m.over, broken: m.broken });
      }
    } finally {
      await page.setViewportSize({ width: 1280, height: 720 });
    }
    const summaries: string[] = [];
    for (const name of ['a', 'b', 'c', 'd']) summaries.push(await service(name).locator('summary').ariaSnapshot());
    const endpoint = `${sshd.user}@127.0.0.1:${sshd.port}`;
    expect({ layouts, target: await service('d').locator('.target').textContent(), summaries }).toEqual({
      layouts: [380, 740].map((viewport) => ({ viewport, sideways: 0, over: [], broken: [] })),
      // The shared connection by its id: its endpoint is in the target already.
      target: expect.stringMatching(new RegExp(`^${endpoint.replace(/[.]/g, '\\.')} → 127\\.0\\.0\\.1:${web.port} \\(via ssh#\\d+\\)$`)),
      // Every "Log" disclosure is named after its service.
      summaries: ['a', 'b', 'c', 'd'].map((name) => expect.stringContaining(`Log of ${name}`)),
    });
  }, 30000);

  it('after `daemon stop`, says the daemon has stopped, and shows every card as not current: dimmed, its clock stopped, its buttons off', async () => {
    const banner = page.locator('#lost');
    expect(await banner.isVisible()).toBe(false);
    expect(await page.locator('#services').getAttribute('data-stale')).toBeNull();
    expect((await cli('daemon', 'stop')).code).toBe(0);
    await banner.waitFor({ state: 'visible', timeout: 10000 });
    expect(await banner.locator('h2').textContent()).toContain('Lost the daemon — showing what it last said');
    // Nothing listens at this address any more: said as such, not "Reconnecting…" forever.
    await waitUntil(async () => /This daemon has stopped\. Run `localport ui` for the new address\./.test((await page.locator('#lost-text').textContent()) ?? ''), 10000, 'the page to say the daemon stopped');
    expect(await page.locator('#link .text').textContent()).toMatch(/this daemon has stopped/);
    expect(await page.locator('#services').getAttribute('data-stale')).toBe('');
    expect(Number(await service('a').evaluate((el) => (globalThis as unknown as { getComputedStyle(e: unknown): { opacity: string } }).getComputedStyle(el).opacity))).toBeLessThan(1);
    expect(await page.getByRole('button', { name: 'Stop a', exact: true }).isDisabled()).toBe(true);
    // The uptime stopped where the daemon left it.
    const uptime = await service('a').locator('.uptime').textContent();
    expect(uptime).toMatch(/\d+ s|m/);
    await new Promise((r) => setTimeout(r, 2200));
    expect(await service('a').locator('.uptime').textContent()).toBe(uptime);
    // The browser's own notes on the cut streams and the refused probe are expected; no script error is.
    expect((page as Page & { errors?: string[] }).errors?.filter((e) => !/^Failed to load resource: net::ERR_/.test(e))).toEqual([]);
  }, 30000);
});
