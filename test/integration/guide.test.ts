import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { loadProject } from '../../app/project.js';
import { Supervisor } from '../../core/supervisor/Supervisor.js';
import { freePort, httpGet, startHttpServer, type HttpPeer } from '../helpers/net.js';
import { describeWithPeer, hasSocat, hasSshd } from '../helpers/peers.js';
import { waitUntil } from '../helpers/procs.js';
import { startSshd, type SshdPeer } from '../helpers/sshd.js';

// The plugin guide's three examples (docs/examples), loaded the way a user loads them — from a
// localport.config.ts through jiti, importing 'localport' — and run against real peers: socat as the
// tunnel program, a real sshd (whose banner the check reads), a real HTTP server, a real webhook.

const examples = fileURLToPath(new URL('../../docs/examples/', import.meta.url));

describe('the plugin guide', () => {
  it('quotes every example in the README verbatim', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const files = readdirSync(examples).filter((f) => f.endsWith('.ts'));
    expect(files.sort()).toEqual(['banner-check.ts', 'notify-plugin.ts', 'socat-technology.ts']);
    for (const f of files) expect(readme).toContain(readFileSync(path.join(examples, f), 'utf8'));
    // The custom technology is under 40 lines.
    expect(readFileSync(path.join(examples, 'socat-technology.ts'), 'utf8').trim().split('\n').length).toBeLessThan(40);
  });
});

describeWithPeer('socat + OpenSSH sshd', hasSocat && hasSshd, 'the plugin guide examples, running', () => {
  let sshd: SshdPeer;
  let web: HttpPeer;
  let hook: http.Server;
  const posts: string[] = [];
  const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-guide-'));
  let sup: Supervisor;

  beforeAll(async () => {
    process.env.LOCALPORT_STATE_DIR = path.join(dir, 'state');
    [sshd, web] = await Promise.all([startSshd(), startHttpServer('through socat')]);
    hook = http.createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        posts.push(JSON.parse(body).text);
        res.end();
      });
    });
    await new Promise<void>((r) => hook.listen(0, '127.0.0.1', r));
  });
  afterAll(async () => {
    await sup?.stopAll();
    hook?.close();
    await Promise.all([sshd?.stop(), web?.close()]);
    rmSync(dir, { recursive: true, force: true });
  });

  it('forwards with the socat technology, checks a banner through it, and posts to the webhook when a check fails', async () => {
    const [ssh, webPort, wrong] = [await freePort(), await freePort(), await freePort()];
    writeFileSync(
      path.join(dir, 'localport.config.ts'),
      `import { defineConfig } from 'localport';
import { socatPlugin } from '${examples}socat-technology.ts';
import { bannerCheckPlugin } from '${examples}banner-check.ts';
import { notifyPlugin } from '${examples}notify-plugin.ts';

export default defineConfig({
  plugins: [socatPlugin(), bannerCheckPlugin(), notifyPlugin({ url: 'http://127.0.0.1:${(hook.address() as AddressInfo).port}/' })],
  services: {
    ssh: { technology: 'socat', localPort: ${ssh}, remotePort: ${sshd.port}, connection: { host: '127.0.0.1' },
      healthCheck: { type: 'banner', interval: 0.2, config: { expect: '^SSH-2\\\\.0-' } } },
    web: { technology: 'socat', localPort: ${webPort}, remotePort: ${web.port}, connection: { host: '127.0.0.1' } },
    // An HTTP server sends no banner: this check must fail, and the webhook hear of it.
    wrong: { technology: 'socat', localPort: ${wrong}, remotePort: ${web.port}, connection: { host: '127.0.0.1' },
      healthCheck: { type: 'banner', interval: 0.2, timeout: 0.5, failureThreshold: 1, config: { expect: '^SSH-2\\\\.0-' } },
      restartPolicy: { enabled: false } },
  },
});
`,
    );
    const project = await loadProject({ configPath: path.join(dir, 'localport.config.ts') });
    sup = new Supervisor(project.hub);
    const [s, w, bad] = project.config.services.map((d) => sup.add(d));
    await Promise.all([s.start(), w.start(), bad.start()]);
    await s.whenHealthy();
    expect(s.health.status().message).toMatch(/^SSH-2\.0-OpenSSH/);
    expect(await httpGet(webPort)).toBe('through socat');
    await waitUntil(() => posts.length > 0, 5000, 'a webhook post');
    expect(posts[0]).toBe('wrong is unhealthy (timeout): banner check gave no answer within 0.5 s');
    // Its tunnel is restarted after the failed check (health unknown meanwhile): the last check's word stays.
    expect(bad.health.status().kind).toBe('timeout');
  });
});
