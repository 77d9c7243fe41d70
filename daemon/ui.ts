import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import type { Logger } from '../core/types.js';
import { LocalPortError } from '../core/errors.js';
import { portHolder } from '../core/supervisor/ports.js';

/**
 * The daemon's loopback HTTP server: `/metrics` now, the dashboard's page, assets, JSON API and
 * server-sent events later, all as routes of this one server. Its security model:
 * - it listens on 127.0.0.1 and ::1 only (::1 skipped where the machine has no IPv6 loopback);
 * - every request carries the daemon's random token (256 bits, new for each daemon process), as
 *   `?token=` or `Authorization: Bearer`, compared in constant time;
 * - a POST (the dashboard's actions) carries it in the header only, never the query: a page of another
 *   site cannot set that header without a CORS preflight, which gets no CORS answer. It must also be
 *   `Content-Type: application/json` and, when the browser names an `Origin`, come from this server;
 * - the Host header must name the server itself (`localhost`, `127.0.0.1` or `[::1]` with its port):
 *   a page of another site whose name was rebound to 127.0.0.1 (DNS rebinding) sends its own name;
 * - a refused request gets a bare 403, the same whatever was wrong; no CORS headers, ever;
 * - headers are bounded in size and time, and so is each connection's idle time (slowloris).
 */

/** A route's handler: the request passed the checks; `query` is its parsed query string. */
export type Method = 'GET' | 'POST';
export type Route = (req: http.IncomingMessage, res: http.ServerResponse, query: URLSearchParams) => void | Promise<void>;

export interface UiLimits {
  /** Headers up to this size; a larger request is refused by Node with 431. */
  maxHeaderBytes: number;
  /** A client has this long to send its headers, and its whole request. */
  headersTimeoutMs: number;
  requestTimeoutMs: number;
  /** Connections at once, per address: a browser opens six, a scraper one. */
  maxConnections: number;
  /** How often Node looks for connections past those timeouts. */
  checkIntervalMs: number;
  /** An idle keep-alive connection is closed after this long. */
  keepAliveMs: number;
}

export const UI_LIMITS: UiLimits = { maxHeaderBytes: 8 * 1024, headersTimeoutMs: 5_000, requestTimeoutMs: 10_000, maxConnections: 64, checkIntervalMs: 2_000, keepAliveMs: 5_000 };
/** How long a browser opener's one-time code is good for, and how many may be outstanding. */
export const OPEN_CODE_MS = 60_000;
const MAX_OPEN_CODES = 8;
/** A fixed port that is busy on ::1 but was free on 127.0.0.1 is retried this often with a port the kernel picks. */
const PICK_ATTEMPTS = 5;
const SKIPPABLE = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EINVAL']);

/** Headers every answer carries: nothing is cached, sniffed, framed or leaks its URL (and token) as a referrer. */
const BASE_HEADERS: Record<string, string> = {
  'Cache-Control': 'no-store',
  'X-Content-Type-Options': 'nosniff',
  'Referrer-Policy': 'no-referrer',
  'X-Frame-Options': 'DENY',
  'Content-Security-Policy': "default-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
};

const digest = (s: string) => createHash('sha256').update(s).digest();

export class UiServer {
  /** 256 random bits; base64url, so it goes in a URL as it is. */
  readonly token: string;
  readonly #tokenDigest: Buffer;
  readonly #servers: http.Server[] = [];
  /** `GET /metrics`, `POST /api/stop`: a GET route answers HEAD too. */
  readonly #routes = new Map<string, Route>();
  /** Outstanding one-time codes (oneTimeUrl) and when each expires. */
  readonly #codes = new Map<string, number>();
  #port = 0;
  #hosts = new Set<string>();
  /** The addresses listened on, as shown: `127.0.0.1:7070`, `[::1]:7070`. */
  listen: string[] = [];

  readonly #limits: UiLimits;

  /**
   * `mangled`: whether the daemon's redaction would change a string. The token travels in replies that are
   * redacted; one that happened to contain a config secret (3 characters are enough) would arrive broken.
   */
  constructor(
    private readonly logger: Logger,
    limits: Partial<UiLimits> = {},
    mangled: (text: string) => boolean = () => false,
  ) {
    this.#limits = { ...UI_LIMITS, ...limits };
    let token: string;
    let tries = 0;
    do token = randomBytes(32).toString('base64url');
    while (mangled(token) && ++tries < 1000);
    this.token = token;
    this.#tokenDigest = digest(token);
  }

  get port(): number {
    return this.#port;
  }

  /** The URL to open: the page at `/`, with the token. 127.0.0.1, which every machine has (`localhost` may mean ::1 first). */
  get url(): string {
    return `http://127.0.0.1:${this.#port}/?token=${this.token}`;
  }

  /**
   * A URL for a browser opener: `/?code=…` with a code good for one visit within OPEN_CODE_MS, which the
   * server answers with a redirect to the page with the token. An opener's command line (xdg-open's, a
   * browser's that it starts) can be read by every local user in /proc; the code it shows is spent by the
   * time anyone could read it, and worthless a minute later.
   */
  oneTimeUrl(now = Date.now()): string {
    for (const [code, expires] of this.#codes) if (expires <= now) this.#codes.delete(code);
    // A few outstanding at most: each `localport ui` makes one.
    while (this.#codes.size >= MAX_OPEN_CODES) this.#codes.delete(this.#codes.keys().next().value!);
    const code = randomBytes(16).toString('base64url');
    this.#codes.set(code, now + OPEN_CODE_MS);
    return `http://127.0.0.1:${this.#port}/?code=${code}`;
  }

  /** Whether `code` is outstanding and unexpired; it is spent either way. */
  #spend(code: string, now = Date.now()): boolean {
    const expires = this.#codes.get(code);
    this.#codes.delete(code);
    return expires !== undefined && expires > now;
  }

  /** Serves `path` (exactly; no prefix matching) for GET and HEAD, or for POST. */
  route(path: string, handler: Route, method: Method = 'GET'): this {
    this.#routes.set(`${method} ${path}`, handler);
    return this;
  }

  /** Listens on 127.0.0.1 and ::1, on `port` or (0 / undefined) on a port the kernel picks for both. */
  async start(port = 0): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#bindAll(port);
        break;
      } catch (error) {
        await this.close();
        const code = (error as NodeJS.ErrnoException).code;
        // The kernel's pick on 127.0.0.1 may be taken on ::1: pick again.
        if (port === 0 && code === 'EADDRINUSE' && attempt < PICK_ATTEMPTS) continue;
        if (code === 'EADDRINUSE') {
          const holder = portHolder(port);
          // The hint is the client's: it knows which flag (or ui.port) asked for this port.
          throw new LocalPortError('UI_PORT_IN_USE', `the dashboard's port ${port} is in use${holder ? ` by ${holder}` : ''}`, {
            hint: 'Pick another port, or leave it out to let the system pick one.',
          });
        }
        throw new LocalPortError('UI_FAILED', `the dashboard's HTTP server could not listen on port ${port}: ${code ?? (error as Error).message}`);
      }
    }
    this.#hosts = new Set([`localhost:${this.#port}`, `127.0.0.1:${this.#port}`, `[::1]:${this.#port}`]);
  }

  async #bindAll(port: number): Promise<void> {
    this.listen = [];
    for (const host of ['127.0.0.1', '::1']) {
      const l = this.#limits;
      const server = http.createServer(
        { maxHeaderSize: l.maxHeaderBytes, headersTimeout: l.headersTimeoutMs, requestTimeout: l.requestTimeoutMs, connectionsCheckingInterval: l.checkIntervalMs, keepAliveTimeout: l.keepAliveMs },
        (req, res) => void this.#serve(req, res),
      );
      server.maxConnections = l.maxConnections;
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host, port: host === '::1' ? this.#port : port, exclusive: true, ipv6Only: host === '::1' }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch (error) {
        server.close();
        if (host === '::1' && SKIPPABLE.has((error as NodeJS.ErrnoException).code ?? '')) continue;
        throw error;
      }
      server.on('error', (e) => this.logger.error({ err: e.message }, `dashboard HTTP server on ${host}: ${e.message}`));
      this.#servers.push(server);
      if (host === '127.0.0.1') this.#port = (server.address() as net.AddressInfo).port;
      this.listen.push(host === '::1' ? `[::1]:${this.#port}` : `${host}:${this.#port}`);
    }
  }

  /** Stops listening and ends every connection (a dashboard's event stream included). */
  async close(): Promise<void> {
    const servers = this.#servers.splice(0);
    await Promise.all(
      servers.map(
        (s) =>
          new Promise<void>((resolve) => {
            s.close(() => resolve());
            s.closeAllConnections();
          }),
      ),
    );
  }

  /**
   * Whether the request may be served: its Host names this server, and it carries the token. A POST
   * carries it as a bearer header (a URL with the token, pasted or leaked, cannot make one), as JSON,
   * and from no other origin than this server's.
   */
  #allowed(req: http.IncomingMessage, query: URLSearchParams): boolean {
    if (!this.#hostAllowed(req)) return false;
    const auth = req.headers.authorization;
    const bearer = auth?.startsWith('Bearer ') ? auth.slice(7).trim() : undefined;
    let given: string | null | undefined;
    if (req.method === 'POST') {
      given = bearer;
      const type = req.headers['content-type']?.split(';')[0].trim().toLowerCase();
      if (type !== 'application/json') return false;
      // A browser names the page's origin on every POST; `null` (a sandboxed frame, a file://) is not this server.
      const origin = req.headers.origin?.toLowerCase();
      if (origin !== undefined && !(origin.startsWith('http://') && this.#hosts.has(origin.slice('http://'.length)))) return false;
    } else given = bearer ?? query.get('token');
    // Digests have one length: the comparison takes the same time whatever was sent.
    return given != null && timingSafeEqual(digest(given), this.#tokenDigest);
  }

  #hostAllowed(req: http.IncomingMessage): boolean {
    const host = req.headers.host?.toLowerCase();
    return !!host && this.#hosts.has(host);
  }

  async #serve(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const raw = req.url ?? '/';
    const q = raw.indexOf('?');
    // The path as sent, never resolved against a base: `//evil.example/x` is a path here, not a host.
    const path = q < 0 ? raw : raw.slice(0, q);
    const query = new URLSearchParams(q < 0 ? '' : raw.slice(q + 1));
    for (const [k, v] of Object.entries(BASE_HEADERS)) res.setHeader(k, v);
    // A browser opener's one-time code (oneTimeUrl): spent on the first visit, answered with the page's
    // URL with the token. The Host check applies as to every request; a wrong or spent code is the same 403.
    const code = query.get('code');
    if (path === '/' && req.method === 'GET' && code !== null && !query.has('token') && !req.headers.authorization) {
      if (!this.#hostAllowed(req) || !this.#spend(code)) return this.#plain(res, 403, 'forbidden\n', true);
      res.writeHead(303, { Location: `/?token=${this.token}`, 'Content-Length': 0 });
      return void res.end();
    }
    if (!this.#allowed(req, query)) {
      this.logger.debug({ path, host: req.headers.host }, 'dashboard HTTP server: request refused (host or token)');
      return this.#plain(res, 403, 'forbidden\n', true);
    }
    const method = req.method === 'HEAD' ? 'GET' : req.method;
    const route = this.#routes.get(`${method} ${path}`);
    if (!route) {
      const allow = (['GET', 'POST'] as const).filter((m) => this.#routes.has(`${m} ${path}`)).flatMap((m) => (m === 'GET' ? ['GET', 'HEAD'] : [m]));
      if (!allow.length) return this.#plain(res, 404, 'not found\n');
      res.setHeader('Allow', allow.join(', '));
      return this.#plain(res, 405, 'method not allowed\n', true);
    }
    try {
      await route(req, res, query);
    } catch (error) {
      this.logger.error({ path, err: (error as Error)?.stack ?? String(error) }, `dashboard HTTP server: ${path} failed: ${(error as Error)?.message ?? String(error)}`);
      if (!res.headersSent) this.#plain(res, 500, 'internal error; see the daemon log\n');
      else res.destroy();
    }
  }

  /** A short text answer; `close` ends the connection after it (a refused client gets no second try on it). */
  #plain(res: http.ServerResponse, status: number, body: string, close = false): void {
    res.writeHead(status, { 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': Buffer.byteLength(body), ...(close ? { Connection: 'close' } : {}) });
    res.end(body);
  }
}

/** Bodies of the dashboard's requests are a few names: anything larger is refused unread. */
export const MAX_BODY_BYTES = 64 * 1024;

/** The request's JSON body; undefined when it is larger than `max` or not JSON (the caller answers 400). */
export async function readJson(req: http.IncomingMessage, max = MAX_BODY_BYTES): Promise<unknown> {
  const declared = Number(req.headers['content-length'] ?? 0);
  if (declared > max) return undefined;
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > max) return undefined;
    chunks.push(chunk);
  }
  try {
    return JSON.parse(Buffer.concat(chunks).toString('utf8')) as unknown;
  } catch {
    return undefined;
  }
}

/** A JSON answer (the dashboard's API). */
export function sendJson(res: http.ServerResponse, status: number, value: unknown): void {
  const body = `${JSON.stringify(value)}\n`;
  res.writeHead(status, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body) });
  res.end(body);
}
