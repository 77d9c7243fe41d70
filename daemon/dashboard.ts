import { closeSync, constants, existsSync, fstatSync, mkdirSync, openSync, readFileSync, readSync, watch, type FSWatcher } from 'node:fs';
import type http from 'node:http';
import path from 'node:path';
import { LocalPortError } from '../core/errors.js';
import type { Logger, ServiceStatus } from '../core/types.js';
import { requestSchema, type Request } from '../app/control/protocol.js';
import type { LocalPortEvent } from '../app/events.js';
import { SUBSCRIBER_BUFFER_BYTES, Subscriber } from './server.js';
import { readJson, sendJson, type UiServer } from './ui.js';

/**
 * The web dashboard: a static page (daemon/page/, plain HTML, CSS and one ES module, copied to dist/ by
 * the build) and the routes it uses on the daemon's HTTP server (daemon/ui.ts, which checks the Host
 * and the token of every request first):
 *
 *   GET  /, /dashboard.js, /dashboard.css   the page
 *   GET  /api/events                          server-sent events: a snapshot, then what changes
 *   GET  /api/logs?service=NAME…              server-sent events: the tail of those services' logs, then new lines
 *   POST /api/start | /api/stop | /api/restart   {names?, tags?, all?}: the control socket's requests
 *
 * The page never polls. `/api/events` is a subscriber of the daemon's event stream (the one
 * `localport events` follows, with its limits: MAX_SUBSCRIBERS, SUBSCRIBER_BUFFER_BYTES): each event
 * goes to the page as it is, and the status of the services it concerns follows it, so the page shows
 * what `status` would. Idle, the daemon sends nothing but a comment every KEEPALIVE_MS; traffic
 * counters, which change without an event, are sent when they changed, at most every TRAFFIC_MS.
 */

/** What the dashboard needs of the daemon; every value it returns is redacted already. */
export interface DashboardHost {
  logger: Logger;
  status(): { config: string; services: ServiceStatus[]; reloadError: string | null; lastReload: string | null };
  /** Registers an event subscriber as `subscribe` on the control socket does; throws (LocalPortError) to refuse it. */
  subscribe(subscriber: Subscriber): void;
  /** A control request (start, stop, restart), as the control socket hands it to the daemon. */
  request(req: Request): Promise<unknown>;
  /** The service's log file, or undefined if the config has no such service. */
  logFile(service: string): string | undefined;
  /** Redacts a reply or an error message before it leaves. */
  redact<T>(value: T): T;
}

/** Traffic counters are compared, and sent if they changed, this often while a page is open. */
export const TRAFFIC_MS = 2000;
/** A comment on every open stream this often: a proxy or a sleeping laptop's stale connection shows. */
export const KEEPALIVE_MS = 30_000;
/** Events of one burst (a reload restarting ten services) make one status message per service. */
const COALESCE_MS = 30;
/** A log panel opens with the last lines of the file, read from at most this many bytes at its end. */
const TAIL_BYTES = 32 * 1024;
const TAIL_LINES = 200;
/** New log lines read at once; a service that writes more between two reads has the rest skipped. */
const FOLLOW_BYTES = 256 * 1024;
/** Log streams at once (a page holds one, whatever the number of panels open), and services in one. */
export const MAX_LOG_STREAMS = 16;
const MAX_LOG_SERVICES = 64;
const ACTIONS = ['start', 'stop', 'restart'] as const;

const PAGE_DIR = new URL('./page/', import.meta.url);
const ASSETS: Record<string, { file: string; type: string }> = {
  '/': { file: 'index.html', type: 'text/html; charset=utf-8' },
  '/dashboard.js': { file: 'dashboard.js', type: 'text/javascript; charset=utf-8' },
  '/dashboard.css': { file: 'dashboard.css', type: 'text/css; charset=utf-8' },
  '/favicon.svg': { file: 'favicon.svg', type: 'image/svg+xml' },
};

/** One server-sent event; JSON.stringify leaves no newline in `data`. */
const sse = (event: string, data: unknown) => `event: ${event}\ndata: ${JSON.stringify(data)}\n\n`;

const SSE_HEADERS = { 'Content-Type': 'text/event-stream; charset=utf-8', 'X-Accel-Buffering': 'no' };

/** A page's event stream: a subscriber of the daemon's events that also tells the dashboard what changed. */
class PageSubscriber extends Subscriber {
  constructor(
    res: http.ServerResponse,
    private readonly changed: (event: LocalPortEvent) => void,
  ) {
    super(res, [], (event) => sse('localport', event));
  }

  override send(event: LocalPortEvent): void {
    super.send(event);
    this.changed(event);
  }
}

/** Overridable for tests. */
export interface DashboardTimings {
  trafficMs: number;
  keepAliveMs: number;
}

export function mountDashboard(server: UiServer, host: DashboardHost, timings: DashboardTimings = { trafficMs: TRAFFIC_MS, keepAliveMs: KEEPALIVE_MS }): { close(): void } {
  const pages = new Set<PageSubscriber>();
  const logStreams = new Set<() => void>();
  const assets = new Map<string, Buffer>();
  let timer: NodeJS.Timeout | undefined;
  let ticks = 0;
  let lastTraffic = new Map<string, string>();
  let pending: Set<string> | 'all' | undefined;
  let flushTimer: NodeJS.Timeout | undefined;

  const snapshot = () => {
    const s = host.status();
    const tags = [...new Set(s.services.flatMap((x) => x.tags))].sort();
    return { now: new Date().toISOString(), config: s.config, services: s.services, tags, reloadError: s.reloadError, lastReload: s.lastReload };
  };

  const broadcast = (text: string) => {
    for (const p of pages) p.write(text);
  };

  /** The status of what the last events concerned, once per burst; the whole snapshot after a reload. */
  const flush = () => {
    flushTimer = undefined;
    const what = pending;
    pending = undefined;
    if (!what || pages.size === 0) return;
    const snap = snapshot();
    if (what === 'all') return broadcast(sse('snapshot', snap));
    for (const s of snap.services) if (what.has(s.name)) broadcast(sse('service', { now: snap.now, service: s }));
  };

  const changed = (event: LocalPortEvent) => {
    if (event.type === 'reload') pending = 'all';
    else if (!('service' in event)) return;
    else if (pending !== 'all') {
      pending ??= new Set<string>();
      pending.add(event.service);
    }
    flushTimer ??= setTimeout(flush, COALESCE_MS);
  };

  const tick = () => {
    ticks++;
    if (ticks % Math.max(1, Math.round(timings.keepAliveMs / timings.trafficMs)) === 0) broadcast(': keep-alive\n\n');
    const now = new Map<string, string>();
    const changedTraffic: Record<string, unknown> = {};
    for (const s of host.status().services) {
      if (!s.traffic) continue;
      const json = JSON.stringify(s.traffic);
      now.set(s.name, json);
      if (lastTraffic.get(s.name) !== json) changedTraffic[s.name] = s.traffic;
    }
    lastTraffic = now;
    if (Object.keys(changedTraffic).length) broadcast(sse('traffic', changedTraffic));
  };

  server.route('/api/events', (req, res) => {
    // HEAD: the headers, and no stream held open for a body that would never be sent.
    if (req.method === 'HEAD') return void res.writeHead(200, SSE_HEADERS).end();
    const page = new PageSubscriber(res, changed);
    try {
      host.subscribe(page);
    } catch (error) {
      const e = error as LocalPortError;
      return sendJson(res, 503, { ok: false, error: { code: e.code ?? 'INTERNAL', message: e.message, hint: e.hint } });
    }
    res.writeHead(200, SSE_HEADERS);
    // The page's first message: everything; then only what changes.
    const snap = snapshot();
    res.write(`retry: 2000\n\n${sse('snapshot', snap)}`);
    for (const s of snap.services) if (s.traffic) lastTraffic.set(s.name, JSON.stringify(s.traffic));
    pages.add(page);
    timer ??= setInterval(tick, timings.trafficMs);
    void page.closed.then(() => {
      pages.delete(page);
      if (pages.size === 0) {
        clearInterval(timer);
        timer = undefined;
        ticks = 0;
      }
    });
  });

  server.route('/api/logs', (req, res, query) => {
    if (req.method === 'HEAD') return void res.writeHead(200, SSE_HEADERS).end();
    const names = [...new Set(query.getAll('service'))];
    if (names.length === 0 || names.length > MAX_LOG_SERVICES) return sendJson(res, 400, { ok: false, error: { code: 'BAD_REQUEST', message: `name 1 to ${MAX_LOG_SERVICES} services with ?service=` } });
    const files = names.map((n) => [n, host.logFile(n)] as const);
    const unknown = files.filter(([, f]) => !f).map(([n]) => n);
    if (unknown.length) return sendJson(res, 404, { ok: false, error: { code: 'UNKNOWN_SERVICE', message: host.redact(`no service named ${unknown.join(', ')} in ${host.status().config}`) } });
    if (logStreams.size >= MAX_LOG_STREAMS) return sendJson(res, 503, { ok: false, error: { code: 'TOO_MANY_SUBSCRIBERS', message: `${MAX_LOG_STREAMS} log streams are open on this daemon already` } });
    res.writeHead(200, SSE_HEADERS);
    res.write('retry: 2000\n\n');
    const stop = followLogs(res, files as [string, string][], host.logger);
    logStreams.add(stop);
    req.socket.once('close', () => {
      stop();
      logStreams.delete(stop);
    });
  });

  for (const action of ACTIONS) {
    server.route(
      `/api/${action}`,
      async (req, res) => {
        const body = await readJson(req);
        if (body === undefined) {
          res.setHeader('Connection', 'close');
          return sendJson(res, 400, { ok: false, error: { code: 'BAD_REQUEST', message: 'the body must be a JSON object of at most 64 KiB' } });
        }
        const parsed = requestSchema.safeParse({ id: 0, method: action, params: body });
        if (!parsed.success) {
          const why = parsed.error.issues.map((i) => `${i.path.slice(1).join('.') || '(body)'}: ${i.message}`).join('; ');
          return sendJson(res, 400, { ok: false, error: { code: 'BAD_REQUEST', message: `invalid request: ${why}` } });
        }
        const params = (parsed.data as Extract<Request, { method: 'start' }>).params;
        // An empty selection means "every service" to the control socket; a page's button always names what it acts on.
        if (!params.names.length && !params.tags.length && !params.all) {
          return sendJson(res, 400, { ok: false, error: { code: 'BAD_REQUEST', message: 'name services (names), tags (tags) or all: true' } });
        }
        try {
          return sendJson(res, 200, { ok: true, result: host.redact(await host.request(parsed.data)) });
        } catch (error) {
          if (!(error instanceof LocalPortError)) throw error;
          return sendJson(res, 400, { ok: false, error: host.redact({ code: error.code, message: error.message, hint: error.hint }) });
        }
      },
      'POST',
    );
  }

  for (const [route, asset] of Object.entries(ASSETS)) {
    server.route(route, (_req, res) => {
      let body = assets.get(asset.file);
      if (!body) {
        const file = new URL(asset.file, PAGE_DIR);
        if (!existsSync(file)) throw new Error(`the dashboard's file ${file.pathname} is missing: reinstall LocalPort`);
        body = readFileSync(file);
        assets.set(asset.file, body);
      }
      // The page names its assets with the token (every request carries it); base64url needs no escaping.
      if (asset.file === 'index.html') body = Buffer.from(body.toString('utf8').replaceAll('__TOKEN__', server.token));
      res.writeHead(200, { 'Content-Type': asset.type, 'Content-Length': body.length });
      res.end(body);
    });
  }

  return {
    close() {
      clearInterval(timer);
      clearTimeout(flushTimer);
      for (const stop of logStreams) stop();
      logStreams.clear();
    },
  };
}

/**
 * Streams the end of each file, then what is appended to it (`tail -F`: a rotated or truncated file is
 * read from its start). Woken by the directory's change notifications (inotify on Linux), not by a
 * timer: a quiet log costs nothing. One message per read: `{service, lines, reset?, skipped?}`.
 */
function followLogs(res: http.ServerResponse, files: [string, string][], logger: Logger): () => void {
  const watchers: FSWatcher[] = [];
  const timers = new Set<NodeJS.Timeout>();
  let stopped = false;
  const byDir = new Map<string, { name: string; base: string; file: string; pos: number; ino: number; partial: string; scheduled: boolean }[]>();
  const send = (data: unknown) => {
    // A tab that stops reading: lines are skipped, never queued without bound.
    if (res.writableLength > SUBSCRIBER_BUFFER_BYTES) return false;
    res.write(sse('log', data));
    return true;
  };
  const read = (f: { name: string; file: string; pos: number; ino: number; partial: string }, first: boolean) => {
    let fd: number;
    try {
      // Non-blocking: a FIFO in the log's place (nothing writing to it) would otherwise block this open,
      // and with it the daemon's whole event loop: every tunnel, the control socket, this server.
      fd = openSync(f.file, constants.O_RDONLY | (constants.O_NONBLOCK ?? 0));
    } catch {
      if (first) send({ service: f.name, lines: [], reset: true });
      return;
    }
    try {
      const st = fstatSync(fd);
      const reset = first;
      if (!st.isFile()) {
        // A FIFO, a device, a socket: nothing to tail (a read could block, or never end). Said once.
        if (first || st.ino !== f.ino) send({ service: f.name, lines: [], ...(first ? { reset: true } : {}), error: 'this log is not a regular file; it is not shown' });
        f.ino = st.ino;
        f.pos = 0;
        f.partial = '';
        return;
      }
      if (st.ino !== f.ino || st.size < f.pos) {
        // Rotated (a new file) or truncated: from its top (the first read: its tail).
        f.ino = st.ino;
        f.pos = first ? Math.max(0, st.size - TAIL_BYTES) : 0;
        f.partial = '';
      }
      let skipped = 0;
      if (st.size - f.pos > FOLLOW_BYTES) {
        skipped = st.size - FOLLOW_BYTES - f.pos;
        f.pos = st.size - FOLLOW_BYTES;
        f.partial = '';
      }
      if (st.size === f.pos && !first) return;
      const buf = Buffer.alloc(st.size - f.pos);
      const n = readSync(fd, buf, 0, buf.length, f.pos);
      const startedMidLine = first && f.pos > 0;
      f.pos += n;
      const parts = (f.partial + buf.subarray(0, n).toString('utf8')).split('\n');
      f.partial = parts.pop() ?? '';
      if (startedMidLine || skipped) parts.shift();
      let lines = parts.filter(Boolean);
      if (first) lines = lines.slice(-TAIL_LINES);
      if (lines.length || reset || skipped) send({ service: f.name, lines, ...(reset ? { reset: true } : {}), ...(skipped ? { skipped } : {}) });
    } finally {
      closeSync(fd);
    }
  };
  for (const [name, file] of files) {
    const dir = path.dirname(file);
    const list = byDir.get(dir) ?? [];
    list.push({ name, base: path.basename(file), file, pos: 0, ino: 0, partial: '', scheduled: false });
    byDir.set(dir, list);
  }
  for (const [dir, list] of byDir) {
    for (const f of list) read(f, true);
    try {
      mkdirSync(dir, { recursive: true, mode: 0o700 });
      const w = watch(dir, { persistent: false }, (_type, filename) => {
        if (stopped) return;
        for (const f of list) {
          if ((filename !== null && filename !== f.base) || f.scheduled) continue;
          // Lines come in bursts (a tunnel's start-up): one read per burst.
          f.scheduled = true;
          const t = setTimeout(() => {
            timers.delete(t);
            f.scheduled = false;
            if (!stopped) read(f, false);
          }, 50);
          timers.add(t);
        }
      });
      w.on('error', (e) => logger.warn({ dir, err: e.message }, `dashboard log tail: watching ${dir} failed: ${e.message}`));
      watchers.push(w);
    } catch (error) {
      logger.warn({ dir, err: (error as Error).message }, `dashboard log tail: cannot watch ${dir}: ${(error as Error).message}`);
      // One message per service: the page files each under its own panel (a joined name matched none).
      for (const f of list) send({ service: f.name, lines: [], error: 'new lines cannot be followed (see the daemon log)' });
    }
  }
  return () => {
    stopped = true;
    for (const w of watchers) w.close();
    for (const t of timers) clearTimeout(t);
    if (!res.writableEnded) res.end();
  };
}
