import net from 'node:net';
import { afterEach, describe, expect, it } from '@jest/globals';
import { UiServer } from '../../../daemon/ui.js';
import type { Logger } from '../../../core/types.js';
import { freePort } from '../../helpers/net.js';

// The daemon's HTTP server on its own: who gets in (Host, token), what a refused client learns, and
// the bounds on what one client can hold (header size, slow headers).

const quiet: Logger = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;
let servers: UiServer[] = [];
afterEach(async () => {
  await Promise.all(servers.map((s) => s.close()));
  servers = [];
});

async function serve(limits = {}, port = 0): Promise<UiServer> {
  const s = new UiServer(quiet, limits);
  s.route('/metrics', (_req, res) => void res.end('metrics body\n'));
  servers.push(s);
  await s.start(port);
  return s;
}

interface RawResponse {
  status: number;
  headers: string;
  body: string;
}

/** Sends `request` as it is (a client can send any Host) and reads the answer until the server closes or 2 s pass. */
function raw(port: number, request: string, host = '127.0.0.1'): Promise<RawResponse> {
  return new Promise((resolve, reject) => {
    const socket = net.connect({ host, port });
    let data = '';
    socket.setEncoding('utf8');
    socket.on('data', (c: string) => (data += c));
    socket.on('error', reject);
    const done = () => {
      const [head, ...body] = data.split('\r\n\r\n');
      resolve({ status: Number(/^HTTP\/1\.1 (\d+)/.exec(head)?.[1] ?? 0), headers: head, body: body.join('\r\n\r\n') });
    };
    socket.on('close', done);
    socket.setTimeout(2000, () => socket.destroy());
    socket.write(request);
  });
}

const get = (s: UiServer, target: string, headers: Record<string, string | undefined> = {}, via = '127.0.0.1') => {
  const h = { Host: `127.0.0.1:${s.port}`, Connection: 'close', ...headers };
  const lines = Object.entries(h).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`);
  return raw(s.port, `GET ${target} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n`, via);
};

describe('UiServer access', () => {
  it('serves a request with the token in the query or a bearer header, and the right Host in each spelling', async () => {
    const s = await serve();
    expect(s.token).toMatch(/^[A-Za-z0-9_-]{43}$/); // 256 bits, base64url
    for (const host of [`127.0.0.1:${s.port}`, `localhost:${s.port}`, `LocalHost:${s.port}`, `[::1]:${s.port}`]) {
      expect(await get(s, `/metrics?token=${s.token}`, { Host: host })).toMatchObject({ status: 200, body: 'metrics body\n' });
    }
    expect(await get(s, '/metrics', { Authorization: `Bearer ${s.token}` })).toMatchObject({ status: 200, body: 'metrics body\n' });
  });

  it('answers a bare 403, the same for every reason, without CORS headers', async () => {
    const s = await serve();
    const refused = [
      await get(s, '/metrics'),
      await get(s, '/metrics?token='),
      await get(s, `/metrics?token=${s.token.slice(0, -1)}`),
      await get(s, `/metrics?token=${s.token}x`),
      await get(s, '/metrics', { Authorization: `Basic ${s.token}` }),
      await get(s, '/metrics', { Authorization: `Bearer ${s.token.toUpperCase()}` }),
      // DNS rebinding: another site's name resolved to 127.0.0.1; the browser sends that name.
      await get(s, `/metrics?token=${s.token}`, { Host: `evil.example:${s.port}`, Origin: `http://evil.example:${s.port}` }),
      await get(s, `/metrics?token=${s.token}`, { Host: 'evil.example' }),
      await get(s, `/metrics?token=${s.token}`, { Host: `127.0.0.1:${s.port + 1}` }),
      await get(s, `/metrics?token=${s.token}`, { Host: '127.0.0.1' }),
      await get(s, `/metrics?token=${s.token}`, { Host: `127.0.0.2:${s.port}` }),
      await raw(s.port, `GET /metrics?token=${s.token} HTTP/1.0\r\n\r\n`),
    ];
    for (const r of refused) {
      expect(r.status).toBe(403);
      expect(r.body).toBe('forbidden\n');
      expect(r.headers).not.toMatch(/access-control/i);
      expect(r.headers).toMatch(/^Cache-Control: no-store$/m);
      expect(r.headers).toMatch(/^Referrer-Policy: no-referrer$/m);
    }
    // A refused request learns nothing of the routes either.
    expect((await get(s, '/nothing-here')).status).toBe(403);
  });

  it('serves a GET route for GET and HEAD only, and exact paths (never a host in the path)', async () => {
    const s = await serve();
    const host = `Host: 127.0.0.1:${s.port}\r\nConnection: close`;
    // A POST that passes the checks (bearer header, JSON) to a GET route: 405, saying what it allows.
    const post = await raw(s.port, `POST /metrics HTTP/1.1\r\n${host}\r\nAuthorization: Bearer ${s.token}\r\nContent-Type: application/json\r\nContent-Length: 0\r\n\r\n`);
    expect(post.status).toBe(405);
    expect(post.headers).toMatch(/^Allow: GET, HEAD$/m);
    expect((await raw(s.port, `HEAD /metrics?token=${s.token} HTTP/1.1\r\n${host}\r\n\r\n`)).status).toBe(200);
    expect((await get(s, `/metrics/?token=${s.token}`)).status).toBe(404);
    expect((await get(s, `//evil.example/metrics?token=${s.token}`)).status).toBe(404);
  });
});

describe('UiServer POST (the dashboard\'s actions)', () => {
  /** A POST as a browser's fetch would send it, each header replaceable (undefined leaves it out). */
  const post = (s: UiServer, target: string, headers: Record<string, string | undefined> = {}, body = '{"names":["a"]}') => {
    const h = {
      Host: `127.0.0.1:${s.port}`,
      Connection: 'close',
      Authorization: `Bearer ${s.token}`,
      'Content-Type': 'application/json',
      Origin: `http://127.0.0.1:${s.port}`,
      'Content-Length': String(Buffer.byteLength(body)),
      ...headers,
    };
    const lines = Object.entries(h).filter(([, v]) => v !== undefined).map(([k, v]) => `${k}: ${v}`);
    return raw(s.port, `POST ${target} HTTP/1.1\r\n${lines.join('\r\n')}\r\n\r\n${body}`);
  };
  async function withAction(): Promise<{ s: UiServer; bodies: unknown[] }> {
    const bodies: unknown[] = [];
    const s = await serve();
    const { readJson, sendJson } = await import('../../../daemon/ui.js');
    s.route('/api/stop', async (req, res) => {
      bodies.push(await readJson(req));
      sendJson(res, 200, { ok: true });
    }, 'POST');
    return { s, bodies };
  }

  it('serves a POST with the token as a bearer header, as JSON, from this origin (or none)', async () => {
    const { s, bodies } = await withAction();
    expect(await post(s, '/api/stop')).toMatchObject({ status: 200, body: '{"ok":true}\n' });
    expect(await post(s, '/api/stop', { Origin: `http://localhost:${s.port}`, Host: `localhost:${s.port}`, 'Content-Type': 'application/json; charset=utf-8' })).toMatchObject({ status: 200 });
    // curl sends no Origin.
    expect(await post(s, '/api/stop', { Origin: undefined })).toMatchObject({ status: 200 });
    expect(bodies).toEqual([{ names: ['a'] }, { names: ['a'] }, { names: ['a'] }]);
  });

  it('refuses, with the bare 403, a POST with the token in the query only, another origin, or not JSON', async () => {
    const { s, bodies } = await withAction();
    const refused = [
      await post(s, `/api/stop?token=${s.token}`, { Authorization: undefined }),
      await post(s, '/api/stop', { Authorization: `Bearer ${s.token.slice(1)}x` }),
      await post(s, '/api/stop', { Origin: 'http://evil.example' }),
      await post(s, '/api/stop', { Origin: `http://127.0.0.1:${s.port + 1}` }),
      await post(s, '/api/stop', { Origin: `https://127.0.0.1:${s.port}` }),
      await post(s, '/api/stop', { Origin: 'null' }),
      // What an HTML form of another site can send without a preflight.
      await post(s, '/api/stop', { 'Content-Type': 'text/plain' }),
      await post(s, '/api/stop', { 'Content-Type': 'application/x-www-form-urlencoded' }),
      await post(s, '/api/stop', { 'Content-Type': undefined }),
    ];
    for (const r of refused) expect({ status: r.status, body: r.body }).toEqual({ status: 403, body: 'forbidden\n' });
    expect(bodies).toEqual([]);
  });

  it('answers an unknown POST route 404 and a POST route\'s GET 405', async () => {
    const { s } = await withAction();
    expect((await post(s, '/api/nothing')).status).toBe(404);
    const r = await get(s, `/api/stop?token=${s.token}`);
    expect(r.status).toBe(405);
    expect(r.headers).toMatch(/^Allow: POST$/m);
  });
});

describe('UiServer token', () => {
  it("gives a browser opener a one-time code, not the token: one visit, redirected to the page with the token; spent, expired, wrong or under another Host it is the bare 403", async () => {
    const s = await serve();
    s.route('/', (_req, res) => void res.end('page\n'));
    const url = new URL(s.oneTimeUrl());
    expect(url.href).not.toContain(s.token);
    expect(url.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{22}$/); // 128 bits
    const target = `/${url.search}`;
    // Another site's page (DNS rebinding) cannot spend it.
    expect((await get(s, target, { Host: `evil.example:${s.port}` })).status).toBe(403);
    const first = await get(s, target);
    expect(first.status).toBe(303);
    expect(first.headers).toContain(`\r\nLocation: /?token=${s.token}`);
    // The visit spent it (the refused Host did not: a rebinding page cannot burn the user's code).
    expect(await get(s, target)).toMatchObject({ status: 403, body: 'forbidden\n' });
    expect((await get(s, '/?code=not-a-code')).status).toBe(403);
    // The page itself still needs the token; the code is good for nothing else.
    expect((await get(s, '/')).status).toBe(403);
    const other = new URL(s.oneTimeUrl());
    expect((await get(s, `/metrics${other.search}`)).status).toBe(403);
    // Expired: made a minute and more ago.
    const old = new URL(s.oneTimeUrl(Date.now() - 61_000));
    expect((await get(s, `/${old.search}`)).status).toBe(403);
    expect((await get(s, `/${other.search}`)).status).toBe(303);
  });

  it('is new for each server, and never one that redaction would change (it travels in redacted replies)', () => {
    const tokens = new Set(Array.from({ length: 20 }, () => new UiServer(quiet).token));
    expect(tokens.size).toBe(20);
    // A config secret 'A': about half the tokens would hold it.
    for (let i = 0; i < 20; i++) expect(new UiServer(quiet, {}, (t) => t.includes('A')).token).not.toContain('A');
  });
});

describe('UiServer listening', () => {
  it('listens on 127.0.0.1 and ::1 on one port, and on no other address', async () => {
    const s = await serve();
    const v6 = s.listen.includes(`[::1]:${s.port}`);
    expect(s.listen[0]).toBe(`127.0.0.1:${s.port}`);
    if (v6) expect((await get(s, `/metrics?token=${s.token}`, {}, '::1')).status).toBe(200);
    // Not on the machine's other addresses (where it has one).
    const { networkInterfaces } = await import('node:os');
    const other = Object.values(networkInterfaces()).flat().find((i) => i && !i.internal && i.family === 'IPv4');
    if (other) await expect(raw(s.port, 'GET / HTTP/1.1\r\n\r\n', other.address)).rejects.toMatchObject({ code: 'ECONNREFUSED' });
  });

  it('names the holder of a fixed port that is taken', async () => {
    const port = await freePort();
    const holder = net.createServer().listen(port, '127.0.0.1');
    await new Promise((r) => holder.once('listening', r));
    try {
      await expect(serve({}, port)).rejects.toMatchObject({ code: 'UI_PORT_IN_USE', message: expect.stringMatching(new RegExp(`^the dashboard's port ${port} is in use by pid ${process.pid}`)) });
    } finally {
      holder.close();
    }
  });
});

describe('UiServer limits', () => {
  it('refuses headers above the size limit (431)', async () => {
    const s = await serve();
    const r = await get(s, `/metrics?token=${s.token}`, { 'X-Big': 'a'.repeat(9 * 1024) });
    expect(r.status).toBe(431);
  });

  it('closes a connection whose headers do not arrive in time (slowloris)', async () => {
    const s = await serve({ headersTimeoutMs: 300, requestTimeoutMs: 600, checkIntervalMs: 100 });
    const socket = net.connect({ host: '127.0.0.1', port: s.port });
    await new Promise((r) => socket.once('connect', r));
    const t0 = Date.now();
    socket.write(`GET /metrics?token=${s.token} HTTP/1.1\r\nHost: 127.0.0.1:${s.port}\r\n`);
    const drip = setInterval(() => socket.writable && socket.write('X-A: b\r\n'), 50);
    let data = '';
    socket.setEncoding('utf8').on('data', (c: string) => (data += c));
    socket.on('error', () => {});
    await new Promise((r) => socket.once('close', r));
    clearInterval(drip);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(data).toMatch(/^HTTP\/1\.1 408/);
  });
});
