/**
 * The front: LocalPort's listener on the user's port, relaying to an upstream. Real sockets on loopback
 * (an upstream TCP server stands for a tunnel's internal endpoint).
 */
import { afterEach, describe, expect, it, jest } from '@jest/globals';
import net from 'node:net';
import { Front, MAX_HELD, type Connector } from '../../../core/supervisor/front.js';
import { connectTo as openSocket } from '../../../core/supervisor/endpoints.js';
import { freePort } from '../../helpers/net.js';
import { waitUntil } from '../../helpers/procs.js';

const logger = { debug() {}, info() {}, warn() {}, error() {} };
const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  while (cleanups.length) await cleanups.pop()!();
});

/** An upstream server; `onSocket` decides what it does with each connection (default: echo). */
async function upstream(onSocket: (s: net.Socket) => void = (s) => s.pipe(s)): Promise<{ port: number; server: net.Server; sockets: net.Socket[] }> {
  const sockets: net.Socket[] = [];
  const server = net.createServer({ allowHalfOpen: true }, (s) => {
    sockets.push(s);
    s.on('error', () => {});
    onSocket(s);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => {
    sockets.forEach((s) => s.destroy());
    return new Promise((r) => server.close(r));
  });
  return { port: (server.address() as net.AddressInfo).port, server, sockets };
}

/** The upstream as LocalPort's connectors open it: reading into one buffer of its own when the relay asks. */
const connectTo = (port: number): Connector => (signal, opts) => openSocket({ host: '127.0.0.1', port }, signal, undefined, opts?.reader);

async function front(opts: Partial<ConstructorParameters<typeof Front>[0]> = {}): Promise<Front> {
  const f = new Front({ service: 'svc', hosts: ['127.0.0.1'], port: await freePort(), holdTimeoutMs: 5000, logger, ...opts });
  await f.listen();
  cleanups.push(() => f.close());
  return f;
}

function client(port: number, host = '127.0.0.1'): Promise<net.Socket> {
  return new Promise((resolve, reject) => {
    const s = net.connect({ host, port, allowHalfOpen: true });
    s.once('connect', () => resolve(s));
    s.once('error', reject);
    cleanups.push(() => s.destroy());
  });
}

/** Sends `text`, ends, and collects the whole answer. */
function exchange(s: net.Socket, text: string): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    s.setEncoding('utf8');
    s.on('data', (d) => (got += d));
    s.on('end', () => resolve(got));
    s.on('error', reject);
    s.end(text);
  });
}

describe('Front', () => {
  it('holds a connection that arrives before the upstream is ready, unread, and serves it once ready', async () => {
    const up = await upstream();
    const onDemand = jest.fn();
    const port = await freePort();
    const f = await front({ port, onDemand });
    const c = await client(port);
    const answer = exchange(c, 'hello');
    await new Promise((r) => setTimeout(r, 150));
    expect(f.metrics()).toMatchObject({ held: 1, heldTotal: 1, active: 0 });
    expect(onDemand).toHaveBeenCalledTimes(1);
    f.ready(connectTo(up.port));
    expect(await answer).toBe('hello');
    expect(f.metrics()).toMatchObject({ held: 0, total: 1, timedOut: 0 });
    expect(f.metrics().maxHoldMs).toBeGreaterThanOrEqual(100);
    await new Promise((r) => setTimeout(r, 20));
    expect(f.metrics()).toMatchObject({ bytesIn: 5, bytesOut: 5, active: 0 });
  });

  it('closes a held connection after the hold timeout, counted and logged', async () => {
    const warn = jest.fn();
    const port = await freePort();
    const f = await front({ port, holdTimeoutMs: 200, logger: { ...logger, warn } });
    const c = await client(port);
    c.resume();
    const closed = new Promise((r) => c.once('close', r));
    const t0 = Date.now();
    await closed;
    expect(Date.now() - t0).toBeGreaterThanOrEqual(150);
    expect(f.metrics()).toMatchObject({ held: 0, timedOut: 1 });
    expect(String(warn.mock.calls[0]?.[1])).toMatch(/service svc: a connection waited 0\.\d s for the tunnel and was closed/);
  });

  it('a connection the upstream refuses while "ready" is held and retried, not refused', async () => {
    const up = await upstream();
    let refusals = 3;
    const refused = jest.fn();
    const port = await freePort();
    const f = await front({ port, onUpstreamRefused: refused });
    f.ready(async (signal) => {
      if (refusals-- > 0) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
      return connectTo(up.port)(signal);
    });
    expect(await exchange(await client(port), 'still served')).toBe('still served');
    expect(refused).toHaveBeenCalledTimes(3);
    expect(f.metrics()).toMatchObject({ timedOut: 0, heldTotal: 1 });
  });

  it('notReady() holds new connections again; ready() with the new upstream serves them', async () => {
    const a = await upstream((s) => s.end('A'));
    const b = await upstream((s) => s.end('B'));
    const port = await freePort();
    const f = await front({ port });
    f.ready(connectTo(a.port));
    expect(await exchange(await client(port), '')).toBe('A');
    f.notReady();
    const pending = exchange(await client(port), '');
    await new Promise((r) => setTimeout(r, 50));
    expect(f.metrics().held).toBe(1);
    f.ready(connectTo(b.port));
    expect(await pending).toBe('B');
  });

  it('passes a half-close on: the client ends its side and still gets the answer', async () => {
    const up = await upstream((s) => {
      let got = '';
      s.on('data', (d) => (got += d));
      s.on('end', () => s.end(`got ${got}`));
    });
    const port = await freePort();
    const f = await front({ port });
    f.ready(connectTo(up.port));
    expect(await exchange(await client(port), 'request')).toBe('got request');
  });

  it('passes a reset on as a reset, both ways, and counts a connection cut under the client', async () => {
    const up = await upstream(() => {});
    const port = await freePort();
    const f = await front({ port });
    f.ready(connectTo(up.port));
    const c = await client(port);
    c.write('x');
    await new Promise((r) => setTimeout(r, 50));
    const err = new Promise<NodeJS.ErrnoException>((r) => c.once('error', r));
    up.sockets[0]!.resetAndDestroy();
    expect((await err).code).toBe('ECONNRESET');
    await new Promise((r) => setTimeout(r, 20));
    expect(f.metrics().cut).toBe(1);

    // The other way: the client resets, the upstream sees a reset.
    const c2 = await client(port);
    c2.write('y');
    await new Promise((r) => setTimeout(r, 50));
    const upErr = new Promise<NodeJS.ErrnoException>((r) => up.sockets[1]!.once('error', r));
    c2.resetAndDestroy();
    expect((await upErr).code).toBe('ECONNRESET');
  });

  it('keeps backpressure: a client cannot push more than socket buffers while the upstream does not read', async () => {
    const up = await upstream((s) => s.pause());
    const port = await freePort();
    const f = await front({ port });
    f.ready(connectTo(up.port));
    const c = await client(port);
    const chunk = Buffer.alloc(64 * 1024);
    let written = 0;
    const deadline = Date.now() + 1000;
    while (Date.now() < deadline) {
      if (c.write(chunk)) written += chunk.length;
      else {
        written += chunk.length;
        const drained = await Promise.race([new Promise((r) => c.once('drain', () => r(true))), new Promise((r) => setTimeout(() => r(false), 200))]);
        if (!drained) break;
      }
    }
    // Without backpressure the front would read everything into memory: hundreds of MiB in a second.
    expect(written).toBeLessThan(64 * 1024 * 1024);
    expect(written).toBeGreaterThan(0);
  });

  it('sets noDelay on the upstream socket', async () => {
    const up = await upstream();
    const port = await freePort();
    const f = await front({ port });
    const spy = jest.fn();
    f.ready(async (signal) => {
      const s = (await connectTo(up.port)(signal)) as net.Socket;
      const orig = s.setNoDelay.bind(s);
      s.setNoDelay = (v?: boolean) => {
        spy(v);
        return orig(v);
      };
      return s;
    });
    expect(await exchange(await client(port), 'ok')).toBe('ok');
    expect(spy).toHaveBeenCalledWith(true);
  });

  it('listens on 127.0.0.1 and ::1 on one port when both are asked for; ::1 is skipped where the machine has no IPv6 loopback', async () => {
    const up = await upstream((s) => s.end('hi'));
    const port = await freePort();
    const f = await front({ port, hosts: ['127.0.0.1', '::1'], optionalHosts: ['::1'] });
    f.ready(connectTo(up.port));
    expect(await exchange(await client(port, '127.0.0.1'), '')).toBe('hi');
    if (f.listening.includes('::1')) expect(await exchange(await client(port, '::1'), '')).toBe('hi');
    else console.warn('no IPv6 loopback on this machine: the ::1 half of the dual-stack test did not run');
  });

  it('calls onIdle after idleMs with no connection, not while one is open', async () => {
    const up = await upstream();
    const onIdle = jest.fn();
    const port = await freePort();
    const f = await front({ port, idleMs: 150, onIdle });
    f.ready(connectTo(up.port));
    const c = await client(port);
    c.write('x');
    await new Promise((r) => setTimeout(r, 300));
    expect(onIdle).not.toHaveBeenCalled();
    c.end();
    await new Promise((r) => setTimeout(r, 300));
    expect(onIdle).toHaveBeenCalledTimes(1);
  });

  it('a port in use is an error, and nothing stays bound', async () => {
    const taken = net.createServer();
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    cleanups.push(() => new Promise((r) => taken.close(r)));
    const port = (taken.address() as net.AddressInfo).port;
    const f = new Front({ service: 'svc', hosts: ['::1', '127.0.0.1'], optionalHosts: ['::1'], port, holdTimeoutMs: 100, logger });
    await expect(f.listen()).rejects.toMatchObject({ code: 'EADDRINUSE' });
    expect(f.listening.length).toBeLessThanOrEqual(1);
    await f.close();
  });

  describe('a tunnel that dies with a connection it never answered', () => {
    /** An upstream that resets every connection once it has its bytes (a tunnel killed before it read them). */
    const dying = () =>
      upstream((s) =>
        s.once('data', () => {
          s.resetAndDestroy();
        }),
      );

    it('is replayed on the next tunnel when the supervisor says the first one is gone: the client gets its answer', async () => {
      const dead = await dying();
      const good = await upstream((s) => {
        let got = '';
        s.on('data', (d) => (got += d));
        s.on('end', () => s.end(`answer to ${got}`));
      });
      const port = await freePort();
      const f = await front({ port });
      f.ready(connectTo(dead.port));
      const answer = exchange(await client(port), 'GET /');
      // The supervisor learns that the tunnel died, and brings a new one.
      await new Promise((r) => setTimeout(r, 50));
      f.notReady();
      setTimeout(() => f.ready(connectTo(good.port)), 100);
      expect(await answer).toBe('answer to GET /');
      expect(f.metrics()).toMatchObject({ replayed: 1, cut: 0 });
    });

    it('is cut (counted, reset passed on) when the tunnel stays: a reset that is the far end’s own is not retried', async () => {
      const dead = await dying();
      const port = await freePort();
      const f = await front({ port });
      f.ready(connectTo(dead.port));
      await expect(exchange(await client(port), 'GET /')).rejects.toMatchObject({ code: 'ECONNRESET' });
      expect(f.metrics()).toMatchObject({ replayed: 0, cut: 1 });
    });

    it('is never replayed once the tunnel has answered anything', async () => {
      const halfway = await upstream((s) =>
        s.once('data', () => {
          s.write('partial');
          setTimeout(() => s.resetAndDestroy(), 20);
        }),
      );
      const port = await freePort();
      const f = await front({ port });
      f.ready(connectTo(halfway.port));
      const s = await client(port);
      let got = '';
      s.on('data', (d) => (got += d));
      const ended = new Promise<string>((r) => {
        s.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
        s.on('close', () => r('closed'));
      });
      s.write('GET /');
      await new Promise((r) => setTimeout(r, 5));
      f.notReady();
      expect(await ended).toBe('ECONNRESET');
      expect(got).toBe('partial');
      expect(f.metrics()).toMatchObject({ replayed: 0, cut: 1 });
    });
  });

  it(`holds at most ${MAX_HELD} connections while the tunnel is down; the excess is reset at once, counted and logged once`, async () => {
    const port = await freePort();
    const warn = jest.fn();
    const f = await front({ port, logger: { ...logger, warn } });
    const held = await Promise.all(Array.from({ length: MAX_HELD }, () => client(port)));
    await waitUntil(() => f.metrics().held === MAX_HELD, 10000, 'all held');
    const outcome = () =>
      new Promise<string>((r) => {
        const extra = net.connect({ host: '127.0.0.1', port });
        extra.on('error', (e: NodeJS.ErrnoException) => r(e.code ?? 'error'));
        extra.on('close', () => r('closed'));
      });
    expect(await outcome()).toBe('ECONNRESET');
    expect(await outcome()).toBe('ECONNRESET');
    expect(f.metrics()).toMatchObject({ held: MAX_HELD, timedOut: 2 });
    expect(warn).toHaveBeenCalledTimes(1);
    held.forEach((h) => h.destroy());
  }, 30000);

  describe("an upstream's FIN", () => {
    const halfAnswer = () =>
      upstream((s) =>
        s.once('data', () => {
          s.write('partial answer');
          s.end();
        }),
      );
    const outcome = (c: net.Socket) =>
      new Promise<{ got: string; how: string }>((r) => {
        let got = '';
        c.setEncoding('utf8');
        c.on('data', (d) => (got += d));
        c.on('end', () => r({ got, how: 'end' }));
        c.on('error', (e: NodeJS.ErrnoException) => r({ got, how: e.code ?? 'error' }));
      });

    it('from a tunnel that is dying reaches the client as a reset, counted as cut (not an end that reads as a whole answer)', async () => {
      const up = await halfAnswer();
      const port = await freePort();
      const f = await front({ port });
      f.ready(connectTo(up.port));
      const c = await client(port);
      const result = outcome(c);
      c.write('GET /');
      // The supervisor hears of the tunnel's death moments after its sockets closed.
      await new Promise((r) => setTimeout(r, 15));
      f.notReady();
      expect(await result).toEqual({ got: 'partial answer', how: 'ECONNRESET' });
      expect(f.metrics()).toMatchObject({ cut: 1 });
    });

    it('from a tunnel that stays is passed on as an end', async () => {
      const up = await halfAnswer();
      const port = await freePort();
      const f = await front({ port });
      f.ready(connectTo(up.port));
      const c = await client(port);
      const result = outcome(c);
      c.write('GET /');
      expect(await result).toEqual({ got: 'partial answer', how: 'end' });
      expect(f.metrics()).toMatchObject({ cut: 0 });
    });
  });

  describe('upstream to client through the one read buffer', () => {
    it('delivers every byte intact (32 MiB of random data, the client reading slowly at first)', async () => {
      const { createHash, randomBytes } = await import('node:crypto');
      const data = randomBytes(32 * 1024 * 1024);
      const up = await upstream((s) => s.end(data));
      const port = await freePort();
      const f = await front({ port });
      f.ready(connectTo(up.port));
      const c = await client(port);
      c.pause();
      await new Promise((r) => setTimeout(r, 200));
      const hash = createHash('sha256');
      let got = 0;
      await new Promise<void>((resolve, reject) => {
        c.on('data', (d: Buffer) => {
          hash.update(d);
          got += d.length;
        });
        c.on('end', resolve);
        c.on('error', reject);
        c.resume();
      });
      expect(got).toBe(data.length);
      expect(hash.digest('hex')).toBe(createHash('sha256').update(data).digest('hex'));
    }, 30000);

    it('keeps backpressure: an upstream cannot push more than socket buffers to a client that does not read', async () => {
      let upSocket!: net.Socket;
      const up = await upstream((s) => {
        upSocket = s;
        const chunk = Buffer.alloc(1024 * 1024, 7);
        for (let i = 0; i < 64; i++) s.write(chunk);
      });
      const port = await freePort();
      const f = await front({ port });
      f.ready(connectTo(up.port));
      const c = await client(port);
      c.pause();
      await new Promise((r) => setTimeout(r, 500));
      // Most of the 64 MiB is still queued at the upstream: the front stopped reading.
      expect(upSocket.writableLength).toBeGreaterThan(32 * 1024 * 1024);
      c.destroy();
    });
  });
});
