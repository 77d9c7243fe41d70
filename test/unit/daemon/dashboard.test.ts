import { execFileSync, spawn } from 'node:child_process';
import http from 'node:http';
import { appendFileSync, mkdtempSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, describe, expect, it } from '@jest/globals';
import { mountDashboard, type DashboardHost } from '../../../daemon/dashboard.js';
import type { Subscriber } from '../../../daemon/server.js';
import { UiServer } from '../../../daemon/ui.js';
import { LocalPortError, UsageError } from '../../../core/errors.js';
import type { Logger, ServiceStatus, TrafficStatus } from '../../../core/types.js';
import type { LocalPortEvent } from '../../../app/events.js';
import type { Request } from '../../../app/control/protocol.js';

// The dashboard's routes on a real UiServer, with a stand-in daemon: what the page's event stream
// carries (and, idle, does not), the log tail, and how actions are checked and answered.

const quiet = { debug() {}, info() {}, warn() {}, error() {} } as unknown as Logger;
const root = mkdtempSync(path.join(os.tmpdir(), 'lp-unit-dashboard-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

const traffic = (total: number): TrafficStatus => ({ active: 0, total, held: 0, heldTotal: 0, timedOut: 0, cut: 0, replayed: 0, bytesIn: total * 10, bytesOut: total * 100, maxHoldMs: 0 }) as TrafficStatus;
const service = (name: string, state: ServiceStatus['state'] = 'ready'): ServiceStatus =>
  ({ name, technology: 'tcp', state, pid: null, localAddress: '127.0.0.1', localPort: 1, listen: [], remotePort: 2, target: 't', tags: ['db'], restarts: 0, relay: true, start: 'eager', traffic: traffic(0), since: null, lastError: null, health: null }) as ServiceStatus;

interface Fake {
  host: DashboardHost;
  services: ServiceStatus[];
  subscribers: Set<Subscriber>;
  requests: Request[];
  publish(e: Partial<LocalPortEvent>): void;
  logs: Record<string, string>;
  refuse?: boolean;
}

function fake(): Fake {
  const f: Fake = {
    services: [service('a'), service('b')],
    subscribers: new Set(),
    requests: [],
    logs: {},
    publish(e) {
      for (const s of f.subscribers) s.send({ v: 1, time: new Date().toISOString(), ...e } as LocalPortEvent);
    },
    host: {
      logger: quiet,
      status: () => ({ config: '/p/localport.yaml', services: structuredClone(f.services), reloadError: null, lastReload: null }),
      subscribe(s) {
        if (f.refuse) throw new LocalPortError('TOO_MANY_SUBSCRIBERS', '64 event subscribers are connected to this daemon already');
        f.subscribers.add(s);
        void s.closed.then(() => f.subscribers.delete(s));
      },
      async request(req) {
        f.requests.push(req);
        const names = (req as Extract<Request, { method: 'stop' }>).params.names;
        if (names.includes('nope')) throw new UsageError("unknown service 'nope'", 'Pick one of a, b.');
        if (names.includes('bug')) throw new TypeError('x is undefined');
        return { stopped: names };
      },
      logFile: (n) => f.logs[n],
      redact: (v) => v,
    },
  };
  return f;
}

const closers: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of closers.splice(0).reverse()) await c();
});

async function serve(f: Fake, timings = { trafficMs: 50, keepAliveMs: 60_000 }): Promise<UiServer> {
  const s = new UiServer(quiet);
  const d = mountDashboard(s, f.host, timings);
  await s.start(0);
  closers.push(() => s.close(), () => d.close());
  return s;
}

interface Message {
  event?: string;
  data?: unknown;
  comment?: string;
}

/** An event-stream reader: every message parsed, as it arrives. */
function stream(s: UiServer, target: string): Promise<{ status: number; messages: Message[]; next(n: number, withinMs?: number): Promise<Message[]>; body: () => string }> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: '127.0.0.1', port: s.port, path: target, headers: { Authorization: `Bearer ${s.token}` } }, (res) => {
      const messages: Message[] = [];
      let buf = '';
      res.setEncoding('utf8').on('data', (c: string) => {
        buf += c;
        let end: number;
        while ((end = buf.indexOf('\n\n')) >= 0) {
          const block = buf.slice(0, end);
          buf = buf.slice(end + 2);
          const m: Message = {};
          for (const line of block.split('\n')) {
            if (line.startsWith(':')) m.comment = line.slice(1).trim();
            else if (line.startsWith('event: ')) m.event = line.slice(7);
            else if (line.startsWith('data: ')) m.data = JSON.parse(line.slice(6));
          }
          if (m.event || m.comment !== undefined) messages.push(m);
        }
      });
      closers.push(() => req.destroy());
      resolve({
        status: res.statusCode ?? 0,
        messages,
        body: () => buf,
        async next(n, withinMs = 2000) {
          const t0 = Date.now();
          while (messages.length < n && Date.now() - t0 < withinMs) await new Promise((r) => setTimeout(r, 10));
          return messages.splice(0, n);
        },
      });
    });
    req.on('error', reject);
  });
}

describe('the page event stream (/api/events)', () => {
  it('starts with a snapshot; each event is followed by the status of its service, once per burst; a reload sends a snapshot', async () => {
    const f = fake();
    const s = await serve(f, { trafficMs: 60_000, keepAliveMs: 60_000 });
    const page = await stream(s, '/api/events');
    expect(page.status).toBe(200);
    const [first] = await page.next(1);
    expect(first).toMatchObject({ event: 'snapshot', data: { config: '/p/localport.yaml', tags: ['db'], reloadError: null, services: [{ name: 'a' }, { name: 'b' }] } });
    expect(f.subscribers.size).toBe(1);

    f.services[0].state = 'restarting';
    f.publish({ type: 'state', service: 'a', from: 'ready', to: 'restarting' } as Partial<LocalPortEvent>);
    f.publish({ type: 'restart', service: 'a', attempt: 1, delay: 1, reason: 'x' } as Partial<LocalPortEvent>);
    f.publish({ type: 'health', service: 'b', from: 'healthy', to: 'unhealthy', check: 'tcp' } as Partial<LocalPortEvent>);
    const burst = await page.next(5);
    expect(burst.map((m) => m.event)).toEqual(['localport', 'localport', 'localport', 'service', 'service']);
    expect(burst[0].data).toMatchObject({ type: 'state', service: 'a', to: 'restarting' });
    expect(burst.slice(3).map((m) => (m.data as { service: ServiceStatus }).service)).toMatchObject([{ name: 'a', state: 'restarting' }, { name: 'b' }]);
    // Nothing more: one status per service for the burst.
    expect(await page.next(1, 200)).toEqual([]);

    f.services.pop();
    f.publish({ type: 'reload', applied: true, added: [], removed: ['b'], changed: [] } as Partial<LocalPortEvent>);
    const [event, snap] = await page.next(2);
    expect(event).toMatchObject({ event: 'localport', data: { type: 'reload' } });
    expect(snap).toMatchObject({ event: 'snapshot', data: { services: [{ name: 'a' }] } });
  });

  it('sends nothing while nothing changes; traffic only when it changed, only the services whose counters moved', async () => {
    const f = fake();
    const s = await serve(f, { trafficMs: 50, keepAliveMs: 60_000 });
    const page = await stream(s, '/api/events');
    await page.next(1);
    // Ten traffic ticks with nothing new: not a byte.
    expect(await page.next(1, 500)).toEqual([]);
    expect(page.body()).toBe('');
    f.services[1].traffic = traffic(3);
    const [t] = await page.next(1);
    expect(t).toEqual({ event: 'traffic', data: { b: { ...traffic(3) } } });
    expect(await page.next(1, 300)).toEqual([]);
  });

  it('sends a keep-alive comment on the keep-alive period', async () => {
    const f = fake();
    const s = await serve(f, { trafficMs: 20, keepAliveMs: 100 });
    const page = await stream(s, '/api/events');
    await page.next(1);
    expect(await page.next(1, 1000)).toEqual([{ comment: 'keep-alive' }]);
  });

  it('is refused as the daemon refuses a subscriber (the limit), with a JSON answer; a closed page is unsubscribed', async () => {
    const f = fake();
    const s = await serve(f);
    const page = await stream(s, '/api/events');
    await page.next(1);
    expect(f.subscribers.size).toBe(1);
    closers.pop()!();
    await new Promise((r) => setTimeout(r, 100));
    expect(f.subscribers.size).toBe(0);
    f.refuse = true;
    const refused = await stream(s, '/api/events');
    expect(refused.status).toBe(503);
    await new Promise((r) => setTimeout(r, 50));
    expect(JSON.parse(refused.body())).toMatchObject({ ok: false, error: { code: 'TOO_MANY_SUBSCRIBERS' } });
  });
});

describe('the log tail (/api/logs)', () => {
  it('sends the last 200 lines, then what is appended, across a rotation; an unknown service is 404', async () => {
    const f = fake();
    const dir = mkdtempSync(path.join(root, 'logs-'));
    f.logs.a = path.join(dir, 'a.log');
    f.logs.b = path.join(dir, 'b.log');
    writeFileSync(f.logs.a, Array.from({ length: 300 }, (_, i) => `line ${i}\n`).join(''));
    const s = await serve(f);
    expect((await stream(s, '/api/logs?service=a&service=zzz')).status).toBe(404);
    const tail = await stream(s, '/api/logs?service=a&service=b');
    expect(tail.status).toBe(200);
    const first = await tail.next(2);
    const a = first.find((m) => (m.data as { service: string }).service === 'a')!.data as { lines: string[]; reset: boolean };
    expect(a.reset).toBe(true);
    expect(a.lines).toHaveLength(200);
    expect(a.lines[0]).toBe('line 100');
    expect(a.lines.at(-1)).toBe('line 299');
    expect(first.find((m) => (m.data as { service: string }).service === 'b')!.data).toEqual({ service: 'b', lines: [], reset: true });

    appendFileSync(f.logs.a, 'new 1\nnew 2\n');
    expect((await tail.next(1)).map((m) => m.data)).toEqual([{ service: 'a', lines: ['new 1', 'new 2'] }]);
    // Rotated as the daemon rotates (a.log → a.log.1), then written anew.
    renameSync(f.logs.a, `${f.logs.a}.1`);
    writeFileSync(f.logs.a, 'after rotation\n');
    const after = await tail.next(1);
    expect(after.map((m) => m.data)).toEqual([{ service: 'a', lines: ['after rotation'] }]);
    appendFileSync(f.logs.b, 'b speaks\n');
    expect((await tail.next(1)).map((m) => m.data)).toEqual([{ service: 'b', lines: ['b speaks'] }]);
  });
});

describe('the log tail and a log that is not a file', () => {
  it('shows a FIFO in a log\'s place (from the start, or put there later) as a note, and the server keeps answering', async () => {
    const f = fake();
    const dir = mkdtempSync(path.join(root, 'fifo-'));
    f.logs.a = path.join(dir, 'a.log');
    f.logs.b = path.join(dir, 'b.log');
    writeFileSync(f.logs.a, 'line 1\n');
    execFileSync('mkfifo', [f.logs.b]);
    // Nothing writes to these FIFOs. Opening one to read waits for a writer, and an open that waits in the
    // daemon's event loop stops everything. This child unblocks such an open after 3 s, so that the broken
    // case fails on the times below instead of hanging the test run; when nothing waits, it waits, and is killed.
    const unblocker = spawn(process.execPath, ['-e', `setTimeout(() => { for (const f of ${JSON.stringify([f.logs.b, `${f.logs.a}`])}) require('fs').writeFileSync(f, ''); }, 3000)`], { stdio: 'ignore' });
    closers.push(() => unblocker.kill('SIGKILL'));
    const s = await serve(f);
    const t0 = Date.now();
    const tail = await stream(s, '/api/logs?service=a&service=b');
    const first = await tail.next(2);
    expect(Date.now() - t0).toBeLessThan(1500);
    expect(first.find((m) => (m.data as { service: string }).service === 'b')?.data).toEqual({ service: 'b', lines: [], reset: true, error: 'this log is not a regular file; it is not shown' });
    expect(first.find((m) => (m.data as { service: string }).service === 'a')?.data).toEqual({ service: 'a', lines: ['line 1'], reset: true });

    // A running tail whose file becomes a FIFO: one note, and the server still answers at once.
    renameSync(f.logs.a, `${f.logs.a}.1`);
    execFileSync('mkfifo', [f.logs.a]);
    const t1 = Date.now();
    expect((await tail.next(1)).map((m) => m.data)).toEqual([{ service: 'a', lines: [], error: 'this log is not a regular file; it is not shown' }]);
    const events = await stream(s, '/api/events');
    expect((await events.next(1)).map((m) => m.event)).toEqual(['snapshot']);
    expect(Date.now() - t1).toBeLessThan(1500);
  });
});

describe('actions (POST /api/start|stop|restart)', () => {
  const post = (s: UiServer, action: string, body: string) =>
    new Promise<{ status: number; body: unknown }>((resolve, reject) => {
      const req = http.request(
        { host: '127.0.0.1', port: s.port, method: 'POST', path: `/api/${action}`, headers: { Authorization: `Bearer ${s.token}`, 'Content-Type': 'application/json', 'Content-Length': Buffer.byteLength(body) } },
        (res) => {
          let data = '';
          res.setEncoding('utf8').on('data', (c: string) => (data += c));
          res.on('end', () => resolve({ status: res.statusCode ?? 0, body: data.startsWith('{') ? JSON.parse(data) : data }));
        },
      );
      req.on('error', reject);
      req.end(body);
    });

  it("hands a valid selection to the daemon as the control socket's request and answers JSON", async () => {
    const f = fake();
    const s = await serve(f);
    expect(await post(s, 'stop', '{"names":["a"]}')).toEqual({ status: 200, body: { ok: true, result: { stopped: ['a'] } } });
    expect(await post(s, 'restart', '{"tags":["db"]}')).toMatchObject({ status: 200 });
    expect(await post(s, 'start', '{"all":true}')).toMatchObject({ status: 200 });
    expect(f.requests).toEqual([
      { id: 0, method: 'stop', params: { names: ['a'], tags: [], all: false, force: false } },
      { id: 0, method: 'restart', params: { names: [], tags: ['db'], all: false } },
      { id: 0, method: 'start', params: { names: [], tags: [], all: true } },
    ]);
  });

  it("refuses an empty selection (the socket's 'everything'), a body that is not JSON or too large, unknown keys; a daemon error is JSON, a bug a 500", async () => {
    const f = fake();
    const s = await serve(f);
    expect(await post(s, 'stop', '{}')).toMatchObject({ status: 400, body: { ok: false, error: { code: 'BAD_REQUEST' } } });
    expect(await post(s, 'stop', 'names=a')).toMatchObject({ status: 400, body: { ok: false, error: { code: 'BAD_REQUEST' } } });
    expect(await post(s, 'stop', JSON.stringify({ names: ['x'.repeat(70_000)] }))).toMatchObject({ status: 400 });
    expect(await post(s, 'stop', '{"names":["a"],"force":true,"evil":1}')).toMatchObject({ status: 400, body: { error: { message: expect.stringMatching(/evil/) } } });
    expect(f.requests).toEqual([]);
    expect(await post(s, 'start', '{"names":["nope"]}')).toEqual({ status: 400, body: { ok: false, error: { code: 'USAGE', message: "unknown service 'nope'", hint: 'Pick one of a, b.' } } });
    expect(await post(s, 'start', '{"names":["bug"]}')).toEqual({ status: 500, body: 'internal error; see the daemon log\n' });
  });
});
