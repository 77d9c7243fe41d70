import http from 'node:http';
import net from 'node:net';

const handedOut = new Set<number>();

/**
 * Test ports come from below the kernel's ephemeral range (32768-60999 on Linux): a port the kernel
 * hands to `listen(0)` may go to any other process's next outgoing connection or port-0 server before
 * the test binds it (seen in CI: a jest worker took one between freePort and the service's bind).
 */
const LOW = 10_000;
const HIGH = 32_000;

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen({ port, host: '127.0.0.1', exclusive: true }, () => s.close(() => resolve(true)));
  });
}

/** A port free right now, and never one this process was already given. */
export async function freePort(): Promise<number> {
  for (let tries = 0; tries < 1000; tries++) {
    const port = LOW + Math.floor(Math.random() * (HIGH - LOW));
    if (handedOut.has(port)) continue;
    // Taken before the check: concurrent callers (Promise.all of many) must never get the same port.
    handedOut.add(port);
    if (await canListen(port)) return port;
  }
  throw new Error(`no free port between ${LOW} and ${HIGH} after 1000 tries`);
}

export interface HttpPeer {
  port: number;
  /** Status the server answers with; tests flip it. */
  status: number;
  body: string;
  close(): Promise<void>;
}

/** A real HTTP server on 127.0.0.1 — the service behind the tunnel. */
export async function startHttpServer(body = 'hello through the tunnel'): Promise<HttpPeer> {
  const peer = { port: 0, status: 200, body } as HttpPeer;
  const server = http.createServer((_req, res) => {
    res.writeHead(peer.status, { 'content-type': 'text/plain', connection: 'close' });
    res.end(peer.body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  peer.port = (server.address() as net.AddressInfo).port;
  peer.close = () =>
    new Promise((r) => {
      server.closeAllConnections();
      server.close(() => r());
    });
  return peer;
}

/** GET through a forward; resolves with the body, rejects on any failure. */
export function httpGet(port: number, host = '127.0.0.1', timeoutMs = 2000): Promise<string> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host, port, path: '/', timeout: timeoutMs, agent: false }, (res) => {
      let data = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (data += c));
      res.on('end', () => resolve(data));
      res.on('error', reject);
    });
    req.on('timeout', () => req.destroy(new Error('timeout')));
    req.on('error', reject);
  });
}

/** Retries `httpGet` until it succeeds or `withinMs` passes; returns the elapsed ms. */
export async function waitForHttp(port: number, withinMs: number, host = '127.0.0.1'): Promise<number> {
  const t0 = Date.now();
  let last: unknown;
  while (Date.now() - t0 < withinMs) {
    try {
      await httpGet(port, host, 500);
      return Date.now() - t0;
    } catch (e) {
      last = e;
      await new Promise((r) => setTimeout(r, 20));
    }
  }
  throw new Error(`no HTTP answer on ${host}:${port} within ${withinMs} ms: ${String(last)}`);
}
