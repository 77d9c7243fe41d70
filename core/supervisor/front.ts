import net from 'node:net';
import os from 'node:os';
import type { Duplex } from 'node:stream';
import { showAddress } from '../address.js';
import { readerOf, type Reader } from './endpoints.js';
import type { Logger, TrafficStatus } from '../types.js';

/**
 * The front of a service: LocalPort's own listener on the user's port, which relays every accepted
 * connection to the service's upstream (a tunnel's internal endpoint, or an in-process stream). The
 * front outlives every tunnel: while the upstream is starting or restarting, a new connection is held,
 * paused and unread, until the upstream is ready or `holdTimeoutMs` passes; it is never refused.
 */

/**
 * Opens one upstream connection for one client connection. `opts.reader`: the relay would like the
 * socket to read into one buffer of its own (endpoints.ts connectTo); a connector may ignore it.
 */
export type Connector = (signal: AbortSignal, opts?: { reader?: Reader }) => Promise<Duplex>;

/** Counted across fronts: a service keeps one across its restarts (see TrafficStatus). */
export type TrafficMetrics = TrafficStatus;

export const emptyTraffic = (): TrafficMetrics => ({ active: 0, total: 0, held: 0, heldTotal: 0, timedOut: 0, cut: 0, replayed: 0, bytesIn: 0, bytesOut: 0, maxHoldMs: 0 });

export interface FrontOptions {
  service: string;
  /** Addresses to listen on, all on `port` (e.g. `['127.0.0.1', '::1']`). */
  hosts: string[];
  /** Hosts that may be skipped when the machine lacks them (`::1` without IPv6 loopback). */
  optionalHosts?: string[];
  port: number;
  holdTimeoutMs: number;
  logger: Logger;
  /** A connection arrived and no upstream is ready (lazy start hooks in here). */
  onDemand?: () => void;
  /** The upstream refused a connection while it was ready: the supervisor may want to look at it. */
  onUpstreamRefused?: (error: Error) => void;
  /** No connection for a while after the last one closed (idle stop hooks in here). */
  onIdle?: () => void;
  idleMs?: number;
  /** Where the counts go; a service passes the same object to every front it opens, so they add up. */
  metrics?: TrafficMetrics;
  /**
   * Whether the current tunnel is alive right now (its process not gone or a zombie), when that can be
   * told at once; undefined when it cannot (then a FIN waits FIN_GRACE_MS for notReady to say).
   */
  upstreamAlive?: () => boolean | undefined;
}

/** What a client sent to a tunnel that died without reading it: sent again to the next one. */
interface Replay {
  chunks: Buffer[];
  /** The client had half-closed already. */
  ended: boolean;
}

interface Held {
  socket: net.Socket;
  since: number;
  replay?: Replay;
  timer: NodeJS.Timeout;
  retry?: NodeJS.Timeout;
}

/** How soon a connection the upstream refused is tried again (while the hold bound allows), doubling up to RETRY_MAX_MS. */
const RETRY_MS = 50;
const RETRY_MAX_MS = 1000;
/** How long an upstream's FIN waits to be passed on: time for a dying tunnel's exit to be heard (see #pipe). */
export const FIN_GRACE_MS = 50;
/** The most connections one service holds while its tunnel is not ready; more are reset (see #overflow). */
export const MAX_HELD = 1000;
/** The most a connection's first bytes are kept for a replay (see #pipe), and all connections' together. */
const REPLAY_MAX = 16 * 1024;
const REPLAY_BUDGET = 16 * 1024 * 1024;
let replayBytes = 0;
/** How long a reset upstream waits to learn whether its tunnel is dying (then it is replayed) or not (then it is cut). */
const REPLAY_WAIT_MS = 300;

export { showAddress };

/** Every address a front of this process listens on, as `host|port`: what an in-process forward must never connect to. */
const ownListeners = new Set<string>();
const plain = (host: string) => host.replace(/^::ffff:/, '');

/** Whether `host:port` (a socket's remote end) is one of this LocalPort's own listeners: a relay to it would loop. */
export function isOwnAddress(host: string, port: number): boolean {
  const h = plain(host);
  if (ownListeners.has(`${h}|${port}`)) return true;
  // A wildcard listener takes every address of this machine on its port.
  const wildcard = ownListeners.has(`0.0.0.0|${port}`) || ownListeners.has(`::|${port}`);
  if (!wildcard) return false;
  if (h.startsWith('127.') || h === '::1') return true;
  return Object.values(os.networkInterfaces()).some((list) => list?.some((i) => plain(i.address) === h));
}

const SKIPPABLE = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EINVAL']);

export class Front {
  readonly #opts: FrontOptions;  // mutable fields: see rehome()
  readonly #servers: net.Server[] = [];
  #connector: Connector | undefined;
  readonly #held = new Set<Held>();
  readonly #live = new Set<net.Socket>();
  /** The upstream generation each live connection is relayed to (see drained()). */
  readonly #liveGeneration = new WeakMap<net.Socket, number>();
  /** Called when a live connection ends (drained() waits on them). */
  readonly #liveEnded = new Set<() => void>();
  /** Connections waiting for their upstream connection to open. */
  readonly #opening = new Set<net.Socket>();
  /** Connections on the health-check port. */
  readonly #checking = new Set<net.Socket>();
  /** Connections already counted in heldTotal (a retried one is counted once). */
  readonly #counted = new WeakSet<net.Socket>();
  #closed = false;
  /** Counts ready/notReady changes: each connection remembers the generation of the upstream it is relayed to. */
  #generation = 0;
  /** The generations whose upstream died (see notReady). */
  readonly #dead = new Set<number>();
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #metrics: TrafficMetrics;
  /** How often each held connection was refused by a ready upstream (its retry backs off). */
  readonly #refusals = new WeakMap<net.Socket, number>();
  #checkServer: net.Server | undefined;
  /** The hosts actually listened on. */
  readonly listening: string[] = [];

  constructor(opts: FrontOptions) {
    this.#opts = opts;
    this.#metrics = opts.metrics ?? emptyTraffic();
  }

  /** Binds every host; a missing optional host (no IPv6 loopback) is skipped, any other failure closes what was bound. */
  async listen(): Promise<void> {
    for (const host of this.#opts.hosts) {
      const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket));
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host, port: this.#opts.port, exclusive: true, ipv6Only: net.isIPv6(host) && host !== '::' && !host.startsWith('::ffff:') }, () => {
            server.off('error', reject);
            resolve();
          });
        });
      } catch (error) {
        const code = (error as NodeJS.ErrnoException).code ?? '';
        if (this.#opts.optionalHosts?.includes(host) && SKIPPABLE.has(code)) continue;
        await this.close();
        throw error;
      }
      server.on('error', (e) => this.#opts.logger.error({ service: this.#opts.service, err: e.message }, `front ${showAddress(host, this.#opts.port)}: ${e.message}`));
      this.#servers.push(server);
      this.listening.push(host);
      ownListeners.add(`${plain(host)}|${this.#opts.port}`);
    }
  }

  /** The counts, with the bytes of connections still open included. */
  metrics(): TrafficMetrics {
    let bytesIn = this.#metrics.bytesIn;
    let bytesOut = this.#metrics.bytesOut;
    for (const s of this.#live) {
      bytesIn += s.bytesRead;
      bytesOut += s.bytesWritten;
    }
    return { ...this.#metrics, held: this.#held.size, active: this.#live.size, bytesIn, bytesOut };
  }

  /**
   * Hands the front to a new owner (a hot reload that changed the service but not where it listens): its
   * demand/idle callbacks and hold bound are the new owner's from now on; connections stay.
   */
  rehome(opts: Pick<FrontOptions, 'onDemand' | 'onIdle' | 'idleMs' | 'holdTimeoutMs' | 'onUpstreamRefused' | 'upstreamAlive'>): void {
    Object.assign(this.#opts, { onDemand: undefined, onIdle: undefined, idleMs: undefined, onUpstreamRefused: undefined, upstreamAlive: undefined }, opts);
  }

  /** The current upstream generation: the connections relayed to the upstream of now carry it. */
  get generation(): number {
    return this.#generation;
  }

  /**
   * Resolves once no connection relayed to an upstream of `generation` or before is open any more, or
   * after `withinMs`: a planned change (a hot reload) lets the old tunnel finish what it serves.
   */
  drained(generation: number, withinMs: number): Promise<void> {
    const busy = () => [...this.#live].some((s) => (this.#liveGeneration.get(s) ?? 0) <= generation);
    if (!busy()) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.#liveEnded.delete(check);
        resolve();
      };
      const check = () => {
        if (!busy()) done();
      };
      const timer = setTimeout(done, withinMs);
      this.#liveEnded.add(check);
    });
  }

  /** The hosts and port it listens on, for a new owner to compare with its own. */
  get port(): number {
    return this.#opts.port;
  }

  /** Whether the upstream is ready (connections are relayed at once). */
  get isReady(): boolean {
    return this.#connector !== undefined;
  }

  /**
   * A private loopback port for health checks that relays straight to the upstream, never holding:
   * while the upstream is not ready, or refuses, a connection here is reset. Health checks that speak
   * a protocol (http, postgres, kafka) reach the tunnel through it when the tunnel has no TCP port of
   * its own (a Unix socket, an in-process forward).
   */
  async checkPort(): Promise<number> {
    if (!this.#checkServer) {
      const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (socket) => {
        socket.on('error', () => {});
        this.#checking.add(socket);
        socket.once('close', () => this.#checking.delete(socket));
        const connector = this.#connector;
        if (!connector || this.#closed) return void socket.resetAndDestroy();
        const abort = new AbortController();
        socket.once('close', () => abort.abort());
        // A check has a timeout of its own; this bound only keeps a connect that never settles from leaking.
        const bound = setTimeout(() => {
          abort.abort();
          socket.resetAndDestroy();
        }, this.#opts.holdTimeoutMs);
        socket.once('close', () => clearTimeout(bound));
        connector(abort.signal).then(
          (upstream) => {
            if (socket.destroyed) return void upstream.destroy();
            upstream.on('error', () => socket.resetAndDestroy());
            socket.on('error', () => upstream.destroy());
            socket.on('close', () => upstream.destroy());
            upstream.on('close', () => socket.destroy());
            socket.pipe(upstream);
            upstream.pipe(socket);
            socket.resume();
          },
          () => socket.resetAndDestroy(),
        );
      });
      await new Promise<void>((resolve, reject) => {
        server.once('error', reject);
        server.listen({ host: '127.0.0.1', port: 0 }, () => resolve());
      }).catch((error) => {
        // Not kept: the next check tries again (EMFILE in a flood passes).
        server.close();
        throw error;
      });
      if (this.#closed) {
        server.close();
        throw Object.assign(new Error('the service is stopping'), { code: 'ECONNREFUSED' });
      }
      this.#checkServer = server;
    }
    return (this.#checkServer.address() as net.AddressInfo).port;
  }

  /** The upstream is ready: held connections are served, in arrival order. */
  ready(connector: Connector): void {
    this.#connector = connector;
    this.#nextGeneration();
    const held = [...this.#held];
    this.#held.clear();
    for (const h of held) {
      clearTimeout(h.timer);
      clearTimeout(h.retry);
      void this.#serve(h.socket, h.since, h.replay);
    }
    this.#maybeIdle();
  }

  /**
   * The upstream went away: new connections are held from now on. `died` (the default): it died or is
   * being killed for not working (a crash, a failed health check), so connections it leaves are cut (a
   * FIN from it is no complete answer) or replayed; false for a planned change (a hot reload, an idle
   * stop), where those in flight may finish on it.
   */
  notReady(died = true): void {
    this.#connector = undefined;
    if (died) {
      this.#dead.add(this.#generation);
      // Only recent generations matter (connections of older ones are long gone): keep the set small.
      if (this.#dead.size > 1000) this.#dead.delete(this.#dead.values().next().value!);
    }
    this.#nextGeneration();
  }

  /** The tunnel could not be started for the connections waiting: each is reset at once, counted as timed out. */
  dropHeld(why: string): void {
    const held = [...this.#held];
    this.#held.clear();
    for (const h of held) {
      clearTimeout(h.timer);
      clearTimeout(h.retry);
      this.#metrics.timedOut++;
      h.socket.resetAndDestroy();
    }
    if (held.length) this.#opts.logger.warn({ service: this.#opts.service, dropped: held.length }, `service ${this.#opts.service}: ${held.length} waiting connection${held.length === 1 ? '' : 's'} closed: ${why}`);
    this.#maybeIdle();
  }

  /** Stops listening and closes every connection, held or live. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#connector = undefined;
    for (const host of this.listening) ownListeners.delete(`${plain(host)}|${this.#opts.port}`);
    clearTimeout(this.#idleTimer);
    for (const h of this.#held) {
      clearTimeout(h.timer);
      clearTimeout(h.retry);
      h.socket.destroy();
    }
    this.#held.clear();
    for (const s of this.#live) s.destroy();
    for (const s of this.#opening) s.destroy();
    for (const s of this.#checking) s.destroy();
    const servers = [...this.#servers, ...(this.#checkServer ? [this.#checkServer] : [])];
    this.#checkServer = undefined;
    await Promise.all(servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.#servers.length = 0;
  }

  #accept(socket: net.Socket): void {
    if (this.#closed) return void socket.destroy();
    this.#metrics.total++;
    clearTimeout(this.#idleTimer);
    socket.on('error', () => {});
    if (this.#connector) void this.#serve(socket, Date.now());
    else if (this.#held.size >= MAX_HELD) this.#overflow(socket);
    else this.#hold(socket, Date.now());
  }

  #timeoutLog = { at: 0, since: 0 };

  /**
   * A connection waited its hold bound: reset (not a FIN: the client sees an error it may retry, not an
   * empty answer), counted, and logged — the first of each 10 s in full, the rest as one count.
   */
  #timedOut(socket: net.Socket, since: number, why?: string): void {
    this.#metrics.timedOut++;
    socket.resetAndDestroy();
    const now = Date.now();
    if (now - this.#timeoutLog.at >= 10_000) {
      const more = this.#timeoutLog.since ? `; ${this.#timeoutLog.since} more since the last such line` : '';
      this.#opts.logger.warn({ service: this.#opts.service, heldMs: now - since }, `service ${this.#opts.service}: a connection waited ${((now - since) / 1000).toFixed(1)} s for the tunnel and was closed${why ? ` (${why})` : ''}${more}`);
      this.#timeoutLog = { at: now, since: 0 };
    } else this.#timeoutLog.since++;
    this.#maybeIdle();
  }

  #overflowLogged = 0;
  /** The upstream's last refusal of a connection while ready, for the hold-timeout log line. */
  #lastRefusal: { at: number; why: string } | undefined;

  /**
   * More connections wait than any client needs (a flood while the tunnel is down): each one holds a file
   * descriptor until the hold bound, and a LocalPort out of descriptors cannot even write its log. The
   * excess is reset at once, counted as timed out, and logged at most every 10 s.
   */
  #overflow(socket: net.Socket): void {
    this.#metrics.timedOut++;
    socket.resetAndDestroy();
    if (Date.now() - this.#overflowLogged < 10_000) return;
    this.#overflowLogged = Date.now();
    this.#opts.logger.warn({ service: this.#opts.service, held: this.#held.size }, `service ${this.#opts.service}: ${MAX_HELD} connections are already waiting for the tunnel; new ones are reset until it is back`);
  }

  /**
   * Holds a connection until the upstream is ready (`ready()` serves it) or the hold bound passes.
   * `retryMs`: the upstream refused it a moment ago although it was ready (a tunnel dying, or a blip);
   * try again that soon, unless the supervisor says the upstream is gone meanwhile.
   */
  #hold(socket: net.Socket, since: number, retry = false, replay?: Replay): void {
    if (!this.#counted.has(socket)) {
      this.#counted.add(socket);
      this.#metrics.heldTotal++;
    }
    const remaining = Math.max(0, since + this.#opts.holdTimeoutMs - Date.now());
    const held: Held = {
      socket,
      since,
      replay,
      timer: setTimeout(() => {
        this.#held.delete(held);
        const refused = this.#lastRefusal && this.#lastRefusal.at >= since ? `the upstream refused it: ${this.#lastRefusal.why}` : undefined;
        this.#timedOut(socket, since, refused);
      }, remaining),
    };
    const refusals = retry ? (this.#refusals.get(socket) ?? 0) + 1 : 0;
    if (retry) this.#refusals.set(socket, refusals);
    const retryMs = Math.min(RETRY_MAX_MS, RETRY_MS * 2 ** (refusals - 1));
    if (retry && remaining > retryMs) {
      held.retry = setTimeout(() => {
        if (!this.#connector || !this.#held.delete(held)) return;
        clearTimeout(held.timer);
        void this.#serve(socket, since, replay);
      }, retryMs);
    }
    // A client that gives up while held is forgotten.
    socket.once('close', () => {
      if (this.#held.delete(held)) {
        clearTimeout(held.timer);
        clearTimeout(held.retry);
      }
    });
    this.#held.add(held);
    if (!retry) this.#opts.onDemand?.();
  }

  async #serve(socket: net.Socket, since: number, replay?: Replay): Promise<void> {
    const connector = this.#connector;
    if (!connector || socket.destroyed) return;
    const generation = this.#generation;
    const abort = new AbortController();
    const onGone = () => abort.abort();
    socket.once('close', onGone);
    let upstream: Duplex;
    this.#opening.add(socket);
    // The hold bound covers the upstream's connect too: a connect that never settles must not keep the
    // client (and a file descriptor) forever.
    const bound = setTimeout(() => {
      if (!this.#opening.delete(socket)) return;
      abort.abort();
      this.#timedOut(socket, since, 'the upstream did not accept it');
    }, Math.max(0, since + this.#opts.holdTimeoutMs - Date.now()));
    try {
      upstream = await connector(abort.signal, { reader: { pending: [] } });
    } catch (error) {
      clearTimeout(bound);
      if (!this.#opening.has(socket)) return; // timed out (above)
      this.#opening.delete(socket);
      socket.off('close', onGone);
      if (socket.destroyed) return;
      if (this.#closed) return void socket.destroy();
      // The upstream was ready a moment ago and refuses now: it is dying (or it was a blip). Hold the
      // connection until the supervisor has the upstream back, or the hold bound passes; never refuse it.
      const e = error as NodeJS.ErrnoException;
      this.#lastRefusal = { at: Date.now(), why: e.code ?? e.message };
      this.#opts.onUpstreamRefused?.(e);
      return this.#hold(socket, since, true, replay);
    }
    clearTimeout(bound);
    socket.off('close', onGone);
    if (!this.#opening.delete(socket) || socket.destroyed || this.#closed) {
      upstream.destroy();
      socket.destroy();
      return;
    }
    // Only a connection that had to wait counts towards the longest hold.
    const held = Date.now() - since;
    if (this.#counted.has(socket) && held > this.#metrics.maxHoldMs) this.#metrics.maxHoldMs = held;
    this.#pipe(socket, upstream, generation, since, replay);
  }

  /**
   * Both directions with backpressure (pipe pauses the faster side), half-close passed on (a client's
   * FIN ends the upstream's writable side only), and a reset passed on as a reset.
   *
   * Until the upstream sends its first byte, what the client sent is kept (up to REPLAY_MAX bytes). If
   * the upstream then resets the connection and its tunnel turns out to be dying (the supervisor calls
   * notReady within REPLAY_WAIT_MS), the tunnel never read the request: a tunnel killed with the
   * connection in its accept queue, or with the bytes unread in its socket. The connection is then held
   * and the bytes are sent again to the next tunnel, instead of being cut. A connection that got any
   * answer, or whose upstream closed in order (FIN), is never replayed.
   */
  #pipe(client: net.Socket, upstream: Duplex, generation: number, since: number, replay?: Replay): void {
    this.#live.add(client);
    this.#liveGeneration.set(client, generation);
    if (upstream instanceof net.Socket) upstream.setNoDelay(true);
    let clientEnded = replay?.ended ?? false;
    let upstreamEnded = false;
    let done = false;
    let detached = false;
    let sent: Buffer[] | null = replay ? [...replay.chunks] : [];
    let sentBytes = sent.reduce((n, c) => n + c.length, 0);
    replayBytes += sentBytes;
    const countBytes = () => {
      this.#metrics.bytesIn += client.bytesRead;
      this.#metrics.bytesOut += client.bytesWritten;
    };
    const finish = () => {
      if (done) return;
      done = true;
      forget();
      countBytes();
      this.#live.delete(client);
      [...this.#liveEnded].forEach((l) => l());
      this.#maybeIdle();
    };
    const reset = (s: Duplex) => {
      if (s instanceof net.Socket && !s.destroyed && typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
      else s.destroy();
    };
    const onClientData = (chunk: Buffer) => {
      if (!sent) return;
      if (sentBytes + chunk.length > REPLAY_MAX || replayBytes + chunk.length > REPLAY_BUDGET) return forget();
      sent.push(chunk);
      sentBytes += chunk.length;
      replayBytes += chunk.length;
    };
    // The upstream answered (or the request is too big to keep): from now on it is a plain relay.
    const forget = () => {
      if (sent) replayBytes -= sentBytes;
      sent = null;
      sentBytes = 0;
      client.off('data', onClientData);
      upstream.off('data', forget);
    };
    const onClientEnd = () => (clientEnded = true);
    const onClientError = () => reset(upstream);
    const onClientClose = () => {
      finish();
      if (!upstream.destroyed) upstream.destroy();
    };
    // The upstream's FIN is passed on once it is clear it is the far end's and not a dying tunnel's (a
    // killed ssh's sockets close in order too): a connection cut by the tunnel's death must reach the
    // client as a reset, counted as cut, not as an end that reads like a complete answer.
    const onUpstreamEnd = () => {
      upstreamEnded = true;
      // The tunnel's process tells at once: alive (checked twice, 5 ms apart: a killed process closes its
      // sockets a moment before it is a zombie) means the far end's own end; gone means a cut.
      const alive = this.#generation === generation && !this.#dead.has(generation) ? this.#opts.upstreamAlive?.() : undefined;
      if (alive === false) return cut();
      if (alive === true) {
        setTimeout(() => {
          if (done || detached || client.destroyed) return;
          if (this.#dead.has(generation) || this.#opts.upstreamAlive?.() === false) cut();
          else client.end();
        }, 5);
        return;
      }
      let timer: NodeJS.Timeout | undefined;
      // Passed on as an end unless this connection's tunnel is known to have died by the grace's end.
      const decide = (final: boolean) => {
        if (done || detached || client.destroyed) return clearTimeout(timer);
        const died = this.#dead.has(generation);
        if (!died && !final) return this.#onGeneration(() => decide(false));
        clearTimeout(timer);
        if (died) cut();
        else client.end();
      };
      timer = setTimeout(() => decide(true), FIN_GRACE_MS);
      decide(false);
    };
    const cut = () => {
      this.#metrics.cut++;
      reset(client);
    };
    let lostOnce = false;
    const lost = (error?: Error) => {
      if (lostOnce || detached || done || client.destroyed) return;
      lostOnce = true;
      const unread = sent !== null && (error as NodeJS.ErrnoException | undefined)?.code !== undefined && /^(ECONNRESET|EPIPE)$/.test((error as NodeJS.ErrnoException).code!);
      if (!unread) return cut();
      const chunks = sent!;
      // The bytes go with the connection; this relay's share of the budget is given back.
      replayBytes -= sentBytes;
      sent = null;
      sentBytes = 0;
      let timer: NodeJS.Timeout | undefined;
      // Replayed only if this connection's tunnel died (a reset from a tunnel that stays is the far end's).
      const retry = (final: boolean) => {
        if (detached || done || client.destroyed) return clearTimeout(timer);
        const died = this.#dead.has(generation);
        if (!died && !final) return this.#onGeneration(() => retry(false));
        clearTimeout(timer);
        if (!died) return cut();
        detach();
        this.#metrics.replayed++;
        const again = { chunks, ended: clientEnded };
        // The next tunnel may be up already; else the connection waits for it like any other.
        if (this.#connector) void this.#serve(client, since, again);
        else this.#hold(client, since, false, again);
      };
      // Whether the tunnel is dying decides; the supervisor hears of its exit within moments.
      timer = setTimeout(() => retry(true), REPLAY_WAIT_MS);
      retry(false);
    };
    const detach = () => {
      detached = true;
      client.unpipe(upstream);
      upstream.unpipe(client);
      client.pause();
      client.off('data', onClientData);
      client.off('end', onClientEnd);
      client.off('error', onClientError);
      client.off('close', onClientClose);
      this.#live.delete(client);
      upstream.destroy();
    };
    client.on('data', onClientData);
    upstream.on('data', forget);
    client.on('end', onClientEnd);
    upstream.on('end', onUpstreamEnd);
    client.on('error', onClientError);
    upstream.on('error', (e) => lost(e));
    upstream.on('close', () => {
      // The upstream closed without finishing its side: the tunnel went away under this connection.
      if (!upstreamEnded) lost();
    });
    client.on('close', onClientClose);
    if (replay) {
      for (const chunk of replay.chunks) upstream.write(chunk);
      // The client had finished sending before the first tunnel died: finish it here (pipe never sees that end).
      if (replay.ended) upstream.end();
    }
    if (!replay?.ended) client.pipe(upstream);
    const reader = readerOf(upstream);
    if (reader) {
      // Upstream to client from the socket's one buffer: written as is when the client's socket takes it
      // at once (the usual case), else reading pauses until it has (the buffer is not reused before).
      const resume = () => upstream.resume();
      reader.sink = (chunk) => {
        if (sent) forget();
        if (client.destroyed) return false;
        if (client.writableLength > 0) {
          client.write(Buffer.from(chunk));
          client.once('drain', resume);
          return false;
        }
        client.write(chunk);
        if (client.writableLength === 0) return true;
        client.once('drain', resume);
        return false;
      };
      const pending = reader.pending.splice(0);
      if (pending.length) forget();
      for (const chunk of pending) client.write(chunk);
      upstream.resume();
    } else upstream.pipe(client, { end: false });
    client.resume();
  }

  #generationListeners = new Set<() => void>();
  #onGeneration(listener: () => void): void {
    this.#generationListeners.add(listener);
  }
  /** The upstream changed (ready or not ready): connections waiting to know whether theirs died are told. */
  #nextGeneration(): void {
    this.#generation++;
    const listeners = [...this.#generationListeners];
    this.#generationListeners.clear();
    listeners.forEach((l) => l());
  }

  #maybeIdle(): void {
    const { idleMs, onIdle } = this.#opts;
    if (!onIdle || idleMs === undefined || this.#closed) return;
    if (this.#live.size || this.#held.size || this.#opening.size) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (!this.#live.size && !this.#held.size && !this.#opening.size && !this.#closed) onIdle();
    }, idleMs);
    this.#idleTimer.unref();
  }
}
