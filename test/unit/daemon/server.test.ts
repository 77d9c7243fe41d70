import { mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from '@jest/globals';
import { request, subscribe } from '../../../app/control/client.js';
import type { LocalPortEvent } from '../../../app/events.js';
import { LocalPortError } from '../../../core/errors.js';
import { Redactor } from '../../../core/redact.js';
import { ControlServer, SUBSCRIBER_BUFFER_BYTES, type Subscriber } from '../../../daemon/server.js';

const dir = mkdtempSync(path.join(os.tmpdir(), 'lp-server-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));
const logger = { debug() {}, info() {}, warn() {}, error() {} };

describe('ControlServer', () => {
  it('redacts every reply once, at the socket, errors included: a secret the daemon knows never reaches a client', async () => {
    const redactor = new Redactor();
    redactor.add('s3cr3t-value');
    const socket = path.join(dir, 'a.sock');
    const server = new ControlServer(
      socket,
      async (req) => {
        if (req.method === 'reload') throw new LocalPortError('RELOAD_FAILED', 'config reload failed: password s3cr3t-value refused');
        return { services: [{ name: 'db', target: 'postgres://u:s3cr3t-value@db' }] };
      },
      logger,
      (v) => redactor.data(v),
    );
    await server.listen();
    try {
      const reply = await request(socket, 'status', {});
      expect(JSON.stringify(reply)).not.toContain('s3cr3t-value');
      expect(JSON.stringify(reply)).toContain('postgres://u:');
      const failed = await request(socket, 'reload').then(
        () => undefined,
        (e: Error) => e,
      );
      expect(failed?.message).toMatch(/password \S+ refused/);
      expect(failed?.message).not.toContain('s3cr3t-value');
    } finally {
      await server.close();
    }
  });
});

describe('ControlServer: what is not redacted', () => {
  // Before, a reply was redacted by value throughout: with a secret '40123', the UI's port became '***'
  // and its URL http://127.0.0.1:***/, and so did every status number equal to it.
  it("shows the ui reply (LocalPort's own URL, port and token) and numbers as they are; strings of other replies stay redacted", async () => {
    const redactor = new Redactor();
    redactor.add('40123');
    const socket = path.join(dir, 'own.sock');
    const server = new ControlServer(
      socket,
      async (req) => {
        if (req.method === 'ui') return { url: 'http://127.0.0.1:40123/', port: 40123, listen: ['127.0.0.1:40123'], token: 'ab40123cd', started: true };
        return { services: [{ name: 'db', remotePort: 40123, pid: 40123, target: 'db:40123', lastError: 'pin 40123 refused' }] };
      },
      logger,
      (v) => redactor.data(v),
    );
    await server.listen();
    try {
      expect(await request(socket, 'ui', {})).toEqual({ url: 'http://127.0.0.1:40123/', port: 40123, listen: ['127.0.0.1:40123'], token: 'ab40123cd', started: true });
      expect(await request(socket, 'status', {})).toEqual({ services: [{ name: 'db', remotePort: 40123, pid: 40123, target: 'db:***', lastError: 'pin *** refused' }] });
    } finally {
      await server.close();
    }
  });
});

describe('ControlServer: subscribe', () => {
  const sockets: string[] = [];
  let n = 0;
  /** A server whose subscribers are kept in `subs`; `refuse` makes the next subscribe fail. */
  async function serve(opts: { refuse?: LocalPortError } = {}) {
    const socket = path.join(dir, `s${++n}.sock`);
    sockets.push(socket);
    const subs: Subscriber[] = [];
    const server = new ControlServer(socket, async () => ({ pid: 1 }), logger, (v) => v, (s) => {
      if (opts.refuse) throw opts.refuse;
      subs.push(s);
    });
    await server.listen();
    const publish = (e: LocalPortEvent) => subs.forEach((s) => s.send(e));
    return { socket, server, subs, publish };
  }
  const ev = (i: number, service = 'db'): LocalPortEvent => ({ v: 1, time: new Date(0).toISOString(), type: 'restart', service, attempt: i, delay: 1, reason: 'x'.repeat(200) });

  /** A raw connection: what it sends, the lines it got, whether the server ended it. */
  function connect(socket: string) {
    const c = net.connect(socket);
    const lines: string[] = [];
    let buf = '';
    c.setEncoding('utf8');
    c.on('data', (d: string) => {
      buf += d;
      const parts = buf.split('\n');
      buf = parts.pop()!;
      lines.push(...parts);
    });
    const ended = new Promise<void>((resolve) => c.on('close', () => resolve()));
    return { c, lines, ended, send: (s: string) => c.write(s) };
  }
  const until = async (cond: () => boolean, ms = 5000) => {
    const t0 = Date.now();
    while (!cond()) {
      if (Date.now() - t0 > ms) throw new Error(`timed out: ${cond.toString()}`);
      await new Promise((r) => setTimeout(r, 10));
    }
  };

  it('answers once, then streams the wanted events one JSON line each; garbage before it gets the usual errors, input after it is ignored', async () => {
    const { socket, server, subs, publish } = await serve();
    const k = connect(socket);
    try {
      k.send('nonsense\n{"id":1,"method":"nope"}\n{"id":2,"method":"subscribe","params":{"names":["db"]}}\n');
      await until(() => subs.length === 1 && k.lines.length === 3);
      expect(JSON.parse(k.lines[0])).toMatchObject({ ok: false, error: { code: 'BAD_REQUEST', message: expect.stringMatching(/^not JSON/) } });
      expect(JSON.parse(k.lines[1])).toMatchObject({ id: 1, ok: false, error: { code: 'BAD_REQUEST' } });
      expect(JSON.parse(k.lines[2])).toEqual({ id: 2, ok: true, result: { subscribed: ['db'], v: 1 } });
      k.send('{"id":3,"method":"ping"}\nmore garbage\n');
      publish(ev(1));
      publish(ev(2, 'web'));
      publish({ v: 1, time: new Date(0).toISOString(), type: 'shutdown', phase: 'force-kill', step: 4, timeout: 0.5 });
      await until(() => k.lines.length === 5);
      expect(k.lines.slice(3).map((l) => JSON.parse(l).type)).toEqual(['restart', 'shutdown']);
    } finally {
      await server.close();
    }
    // close() ends the stream: the reader sees its end.
    await k.ended;
  });

  it('refuses a subscription with the error the daemon gives (an unknown service, too many readers)', async () => {
    const { socket, server } = await serve({ refuse: new LocalPortError('TOO_MANY_SUBSCRIBERS', '64 event subscribers are connected to this daemon already') });
    try {
      const failed = await subscribe(socket, [], () => {}).then(
        () => undefined,
        (e: LocalPortError) => e,
      );
      expect(failed).toMatchObject({ code: 'TOO_MANY_SUBSCRIBERS' });
    } finally {
      await server.close();
    }
  });

  it('a reader that does not read holds at most the buffer bound in the daemon; the rest is dropped and counted, and it is told once it catches up', async () => {
    const { socket, server, subs, publish } = await serve();
    const fast: unknown[] = [];
    const abort = new AbortController();
    const fastDone = subscribe(socket, [], (e) => fast.push(e), abort.signal);
    const slow = connect(socket);
    try {
      slow.send('{"id":1,"method":"subscribe"}\n');
      await until(() => subs.length === 2 && slow.lines.length === 1);
      slow.c.pause();
      const total = 20_000;
      let most = 0;
      for (let i = 1; i <= total; i++) {
        publish(ev(i));
        most = Math.max(most, subs[1].buffered);
        // Let the fast reader read as it goes, as a real one would.
        if (i % 100 === 0) await new Promise((r) => setTimeout(r, 1));
      }
      // ~5 MB published; the slow one's queue never went past the bound plus one event.
      expect(most).toBeLessThanOrEqual(SUBSCRIBER_BUFFER_BYTES + 1024);
      // The fast reader kept up: everything, nothing dropped.
      await until(() => fast.length === total, 10000);
      expect(fast.every((e) => (e as LocalPortEvent).type === 'restart')).toBe(true);
      slow.c.resume();
      const got = () => slow.lines.slice(1).map((l) => JSON.parse(l) as LocalPortEvent);
      // Caught up: told how many it missed, then the stream goes on.
      await until(() => got().some((e) => e.type === 'dropped'));
      publish(ev(total + 1));
      await until(() => got().some((e) => e.type === 'restart' && e.attempt === total + 1)).catch((e) => {
        throw new Error(`${(e as Error).message}; got ${slow.lines.length} lines, last ${slow.lines.at(-1)?.slice(0, 80)}, buffered ${subs[1].buffered}`);
      });
      const events = got();
      const dropped = events.filter((e) => e.type === 'dropped').reduce((sum, e) => sum + (e as { count: number }).count, 0);
      const delivered = events.filter((e) => e.type === 'restart').length;
      expect(dropped).toBeGreaterThan(0);
      // Every event is either delivered or counted, in order.
      expect(delivered + dropped).toBe(total + 1);
      const attempts = events.filter((e) => e.type === 'restart').map((e) => (e as { attempt: number }).attempt);
      expect(attempts).toEqual([...attempts].sort((a, b) => a - b));
    } finally {
      abort.abort();
      await fastDone;
      await server.close();
    }
  });

  it('closing does not wait for a reader that never takes its last events for more than a second', async () => {
    const { socket, server, subs, publish } = await serve();
    const stuck = connect(socket);
    stuck.send('{"id":1,"method":"subscribe"}\n');
    await until(() => subs.length === 1 && stuck.lines.length === 1);
    stuck.c.pause();
    for (let i = 0; i < 5000; i++) publish(ev(i));
    const t0 = Date.now();
    await server.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    // Cut off: once it reads again, it finds the connection gone.
    stuck.c.resume();
    await stuck.ended;
  });
});
