import net from 'node:net';
import type { Duplex } from 'node:stream';
import type { Logger } from '../types.js';

/**
 * The front of a service: LocalPort's own listener on the user's port, which relays every accepted
 * connection to the service's upstream (a tunnel's internal endpoint, or an in-process stream). The
 * front outlives every tunnel: while the upstream is starting or restarting, a new connection is held,
 * paused and unread, until the upstream is ready or `holdTimeoutMs` passes; it is never refused.
 */

/** Opens one upstream connection for one client connection. */
export type Connector = (signal: AbortSignal) => Promise<Duplex>;

export interface TrafficMetrics {
  /** Connections being relayed now. */
  active: number;
  /** Connections accepted since the front started (across restarts of the tunnel). */
  total: number;
  /** Connections waiting for the upstream now. */
  held: number;
  /** Connections that had to wait for the upstream, in all. */
  heldTotal: number;
  /** Connections closed because the upstream was not ready within the hold timeout. */
  timedOut: number;
  /** Connections in flight cut because their upstream went away (a tunnel died under them). */
  cut: number;
  /** Bytes from clients to the upstream, and back. */
  bytesIn: number;
  bytesOut: number;
  /** The longest and the last hold, in ms. */
  maxHoldMs: number;
}

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
  onUpstreamRefused?: () => void;
  /** No connection for a while after the last one closed (idle stop hooks in here). */
  onIdle?: () => void;
  idleMs?: number;
}

interface Held {
  socket: net.Socket;
  since: number;
  timer: NodeJS.Timeout;
  retry?: NodeJS.Timeout;
}

/** How soon a connection the upstream refused is tried again (while the hold bound allows). */
const RETRY_MS = 50;

/** How an address is shown: IPv6 in brackets, so `[::1]:5432` is unambiguous. */
export const showAddress = (host: string, port: number) => (net.isIPv6(host) ? `[${host}]:${port}` : `${host}:${port}`);

const SKIPPABLE = new Set(['EADDRNOTAVAIL', 'EAFNOSUPPORT', 'EINVAL']);

export class Front {
  readonly #opts: FrontOptions;
  readonly #servers: net.Server[] = [];
  #connector: Connector | undefined;
  readonly #held = new Set<Held>();
  readonly #live = new Set<net.Socket>();
  /** Connections already counted in heldTotal (a retried one is counted once). */
  readonly #counted = new WeakSet<net.Socket>();
  #closed = false;
  #idleTimer: NodeJS.Timeout | undefined;
  readonly #metrics: TrafficMetrics = { active: 0, total: 0, held: 0, heldTotal: 0, timedOut: 0, cut: 0, bytesIn: 0, bytesOut: 0, maxHoldMs: 0 };
  /** The hosts actually listened on. */
  readonly listening: string[] = [];

  constructor(opts: FrontOptions) {
    this.#opts = opts;
  }

  /** Binds every host; a missing optional host (no IPv6 loopback) is skipped, any other failure closes what was bound. */
  async listen(): Promise<void> {
    for (const host of this.#opts.hosts) {
      const server = net.createServer({ pauseOnConnect: true, allowHalfOpen: true, noDelay: true }, (socket) => this.#accept(socket));
      try {
        await new Promise<void>((resolve, reject) => {
          server.once('error', reject);
          server.listen({ host, port: this.#opts.port, exclusive: true, ipv6Only: net.isIPv6(host) }, () => {
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
    }
  }

  metrics(): TrafficMetrics {
    return { ...this.#metrics, held: this.#held.size, active: this.#live.size };
  }

  /** The upstream is ready: held connections are served, in arrival order. */
  ready(connector: Connector): void {
    this.#connector = connector;
    const held = [...this.#held];
    this.#held.clear();
    for (const h of held) {
      clearTimeout(h.timer);
      clearTimeout(h.retry);
      void this.#serve(h.socket, h.since);
    }
  }

  /** The upstream went away (stopped, died, restarting): new connections are held from now on. */
  notReady(): void {
    this.#connector = undefined;
  }

  /** Stops listening and closes every connection, held or live. */
  async close(): Promise<void> {
    this.#closed = true;
    this.#connector = undefined;
    clearTimeout(this.#idleTimer);
    for (const h of this.#held) {
      clearTimeout(h.timer);
      clearTimeout(h.retry);
      h.socket.destroy();
    }
    this.#held.clear();
    for (const s of this.#live) s.destroy();
    await Promise.all(this.#servers.map((s) => new Promise<void>((resolve) => s.close(() => resolve()))));
    this.#servers.length = 0;
  }

  #accept(socket: net.Socket): void {
    if (this.#closed) return void socket.destroy();
    this.#metrics.total++;
    clearTimeout(this.#idleTimer);
    socket.on('error', () => {});
    if (this.#connector) void this.#serve(socket, Date.now());
    else this.#hold(socket, Date.now());
  }

  /**
   * Holds a connection until the upstream is ready (`ready()` serves it) or the hold bound passes.
   * `retryMs`: the upstream refused it a moment ago although it was ready (a tunnel dying, or a blip);
   * try again that soon, unless the supervisor says the upstream is gone meanwhile.
   */
  #hold(socket: net.Socket, since: number, retryMs?: number): void {
    if (!this.#counted.has(socket)) {
      this.#counted.add(socket);
      this.#metrics.heldTotal++;
    }
    const remaining = Math.max(0, since + this.#opts.holdTimeoutMs - Date.now());
    const held: Held = {
      socket,
      since,
      timer: setTimeout(() => {
        this.#held.delete(held);
        this.#metrics.timedOut++;
        this.#opts.logger.warn({ service: this.#opts.service, heldMs: Date.now() - since }, `service ${this.#opts.service}: a connection waited ${((Date.now() - since) / 1000).toFixed(1)} s for the tunnel and was closed`);
        // A reset, not a FIN: the client sees an error it may retry, not an empty answer.
        socket.resetAndDestroy();
        this.#maybeIdle();
      }, remaining),
    };
    if (retryMs !== undefined && remaining > retryMs) {
      held.retry = setTimeout(() => {
        if (!this.#connector || !this.#held.delete(held)) return;
        clearTimeout(held.timer);
        void this.#serve(socket, since);
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
    if (retryMs === undefined) this.#opts.onDemand?.();
  }

  async #serve(socket: net.Socket, since: number): Promise<void> {
    const connector = this.#connector;
    if (!connector || socket.destroyed) return;
    const abort = new AbortController();
    const onGone = () => abort.abort();
    socket.once('close', onGone);
    let upstream: Duplex;
    try {
      upstream = await connector(abort.signal);
    } catch {
      socket.off('close', onGone);
      if (socket.destroyed) return;
      if (this.#closed) return void socket.destroy();
      // The upstream was ready a moment ago and refuses now: it is dying (or it was a blip). Hold the
      // connection until the supervisor has the upstream back, or the hold bound passes; never refuse it.
      this.#opts.onUpstreamRefused?.();
      return this.#hold(socket, since, RETRY_MS);
    }
    socket.off('close', onGone);
    if (socket.destroyed || this.#closed) {
      upstream.destroy();
      return;
    }
    const held = Date.now() - since;
    if (held > this.#metrics.maxHoldMs) this.#metrics.maxHoldMs = held;
    this.#pipe(socket, upstream);
  }

  /**
   * Both directions with backpressure (pipe pauses the faster side), half-close passed on (a client's
   * FIN ends the upstream's writable side only), and a reset passed on as a reset.
   */
  #pipe(client: net.Socket, upstream: Duplex): void {
    this.#live.add(client);
    if (upstream instanceof net.Socket) upstream.setNoDelay(true);
    let clientEnded = false;
    let upstreamEnded = false;
    let done = false;
    const countBytes = () => {
      this.#metrics.bytesIn += client.bytesRead;
      this.#metrics.bytesOut += client.bytesWritten;
    };
    const finish = () => {
      if (done) return;
      done = true;
      countBytes();
      this.#live.delete(client);
      this.#maybeIdle();
    };
    const reset = (s: Duplex) => {
      if (s instanceof net.Socket && !s.destroyed && typeof s.resetAndDestroy === 'function') s.resetAndDestroy();
      else s.destroy();
    };
    client.on('end', () => (clientEnded = true));
    upstream.on('end', () => (upstreamEnded = true));
    client.on('error', () => reset(upstream));
    upstream.on('error', () => {
      if (!clientEnded || !upstreamEnded) this.#metrics.cut++;
      reset(client);
    });
    upstream.on('close', () => {
      // The upstream closed without finishing its side: the tunnel went away under this connection.
      if (!upstreamEnded && !client.destroyed && !done) {
        this.#metrics.cut++;
        reset(client);
      }
    });
    client.on('close', () => {
      finish();
      if (!upstream.destroyed) upstream.destroy();
    });
    client.pipe(upstream);
    upstream.pipe(client);
    client.resume();
  }

  #maybeIdle(): void {
    const { idleMs, onIdle } = this.#opts;
    if (!onIdle || idleMs === undefined || this.#closed) return;
    if (this.#live.size || this.#held.size) return;
    clearTimeout(this.#idleTimer);
    this.#idleTimer = setTimeout(() => {
      if (!this.#live.size && !this.#held.size && !this.#closed) onIdle();
    }, idleMs);
    this.#idleTimer.unref();
  }
}
