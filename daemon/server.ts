import { chmodSync, lstatSync, renameSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { LocalPortError } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import { ping } from '../app/control/client.js';
import { MAX_MESSAGE_BYTES, requestSchema, type Request, type Response } from '../app/control/protocol.js';
import { EVENT_SCHEMA_VERSION, toEvent, wanted, type LocalPortEvent } from '../app/events.js';
import { Redactor } from '../core/redact.js';

let bindCount = 0;

/**
 * Replies that hold only LocalPort's own facts (its pid; its HTTP server's URL, port, addresses and
 * token), never a config value: not redacted by value, so a URL or port that happens to equal a secret
 * is shown as it is. Every other reply, and every error, is.
 */
const OWN_REPLIES: ReadonlySet<Request['method']> = new Set(['ping', 'ui']);

/** Requests of one connection handled at once; the rest wait in order, and its socket is not read meanwhile. */
const MAX_IN_FLIGHT = 4;

export type Handler = (request: Request) => Promise<unknown>;

/**
 * Bytes of events a subscriber's socket may hold unsent (Node's buffer on top of the kernel's). Past
 * it, events are left out for that subscriber and counted; once its socket drains it gets a `dropped`
 * event with the count, then the stream goes on. The daemon's memory per subscriber stays bounded,
 * and a stuck reader never slows the daemon or the other readers.
 */
export const SUBSCRIBER_BUFFER_BYTES = 256 * 1024;

/** How long closing the socket waits for subscribers to take their last events before it cuts them off. */
const CLOSE_GRACE_MS = 1000;

/** One `subscribe` connection: the events it asked for, one JSON line each, never more than the buffer bound. */
export class Subscriber {
  #dropped = 0;
  readonly closed: Promise<void>;
  static readonly #plain = new Redactor();

  constructor(
    private readonly socket: net.Socket,
    readonly names: readonly string[],
  ) {
    this.closed = new Promise((resolve) => socket.once('close', () => resolve()));
    socket.on('drain', () => this.#flushDropped());
  }

  /** Queues `event` if this subscriber wants it and has room; otherwise counts it as dropped. Never blocks. */
  send(event: LocalPortEvent): void {
    if (!wanted(event, this.names) || !this.socket.writable) return;
    if (this.socket.writableLength > SUBSCRIBER_BUFFER_BYTES) {
      this.#dropped += 1;
      return;
    }
    this.#flushDropped();
    this.socket.write(`${JSON.stringify(event)}\n`);
  }

  #flushDropped(): void {
    if (this.#dropped === 0 || !this.socket.writable) return;
    const count = this.#dropped;
    this.#dropped = 0;
    this.socket.write(`${JSON.stringify(toEvent({ kind: 'dropped', count }, Subscriber.#plain))}\n`);
  }

  /** Bytes of events queued and not yet taken by the reader. */
  get buffered(): number {
    return this.socket.writableLength;
  }

  /** Ends the stream once what is queued is written (the daemon stops). */
  end(): void {
    this.socket.end();
  }

  /** Cuts the connection at once, queued events and all (a subscriber that would not take them). */
  destroy(): void {
    this.socket.destroy();
  }
}

/** Where `subscribe` requests go: it registers the subscriber or throws (a LocalPortError) to refuse it. */
export type SubscribeHandler = (subscriber: Subscriber) => void;

/**
 * The daemon's control socket: newline-delimited JSON, every request validated with zod. A malformed
 * or oversized message gets an error reply; nothing a client sends can take the daemon down.
 * On Unix the socket is created with mode 0600 inside a 0700 directory.
 */
export class ControlServer {
  readonly #server: net.Server;
  readonly #sockets = new Set<net.Socket>();

  constructor(
    readonly socketPath: string,
    private readonly handle: Handler,
    private readonly logger: Logger,
    /** Applied to every reply, errors included: the daemon's secrets never leave through the socket. */
    private readonly redact: <T>(value: T) => T = (v) => v,
    /** `subscribe` requests; without it they are refused. */
    private readonly subscribe?: SubscribeHandler,
  ) {
    this.#server = net.createServer((socket) => this.#serve(socket));
  }

  /** The socket file's inode once listening: the file at socketPath is ours only while it matches. */
  #ino: number | undefined;

  /**
   * Listens on socketPath, whose directory the caller has checked (socketdir.ts). A socket file left
   * there is replaced only if nothing answers on it: a live daemon's socket is never taken over.
   * The socket is bound under a temporary name and renamed into place, so the path never points to
   * nothing, and because libuv unlinks the name it bound when the server closes, binding under a
   * private name keeps a closing server from deleting a socket that is no longer its own.
   */
  async listen(): Promise<void> {
    if (process.platform === 'win32') return this.#bind(this.socketPath);
    const existing = await ping(this.socketPath, 1000);
    if (existing && existing.pid !== process.pid) {
      throw new LocalPortError('DAEMON_RUNNING', `another daemon (pid ${existing.pid}) already answers on ${this.socketPath}`);
    }
    // Shorter than the final name, so it fits in sun_path wherever the final name does.
    const tmp = path.join(path.dirname(this.socketPath), `.${process.pid}-${++bindCount}.t`);
    rmSync(tmp, { force: true });
    await this.#bind(tmp);
    chmodSync(tmp, 0o600);
    renameSync(tmp, this.socketPath);
    this.#ino = lstatSync(this.socketPath).ino;
  }

  async #bind(where: string): Promise<void> {
    // The umask makes the socket 0600 from its first instant; chmod makes sure of it.
    const old = process.umask(0o177);
    try {
      await new Promise<void>((resolve, reject) => {
        this.#server.once('error', reject);
        this.#server.listen(where, () => resolve());
      });
    } finally {
      process.umask(old);
    }
  }

  /** Whether the file at socketPath is still this server's socket (not deleted, not replaced). */
  ownsPath(): boolean {
    if (process.platform === 'win32') return true;
    try {
      return lstatSync(this.socketPath).ino === this.#ino;
    } catch {
      return false;
    }
  }

  /**
   * Stops accepting connections; open ones are closed once their reply (a subscriber: its last events)
   * is written. One that does not take it within CLOSE_GRACE_MS is cut off: a stuck reader cannot
   * hold the daemon's exit.
   */
  async close(): Promise<void> {
    this.#server.close();
    const open = [...this.#sockets];
    for (const s of open) s.end();
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.all(open.map((s) => (s.closed ? undefined : new Promise((resolve) => s.once('close', resolve))))),
      new Promise((resolve) => (timer = setTimeout(resolve, CLOSE_GRACE_MS))),
    ]);
    clearTimeout(timer);
    for (const s of open) s.destroy();
    // Only our own socket file: another daemon's at the same path is not ours to remove.
    if (this.ownsPath()) rmSync(this.socketPath, { force: true });
  }

  stopAccepting(): void {
    this.#server.close();
  }

  /**
   * One connection's requests are handled in the order they came, at most MAX_IN_FLIGHT at a time,
   * and the socket is read only while nothing read is waiting and the client takes its replies: a
   * client that pipelines requests without reading the answers holds a chunk of requests and a
   * socket buffer of replies in the daemon, never its whole backlog. A closed connection's queue is
   * dropped, and replies to requests still running are discarded.
   */
  #serve(socket: net.Socket): void {
    this.#sockets.add(socket);
    socket.on('error', () => {});
    socket.setEncoding('utf8');
    const queue: string[] = [];
    let next = 0;
    let partial = '';
    let inFlight = 0;
    let done = false;
    /** A subscriber's connection: nothing more it sends is read as a request. */
    let streaming = false;
    const finish = () => {
      done = true;
      queue.length = next = 0;
      partial = '';
    };
    socket.on('close', () => {
      this.#sockets.delete(socket);
      finish();
    });
    const reply = (r: Response, method?: Request['method']) => {
      if (!done && socket.writable) socket.write(`${JSON.stringify(r.ok && method !== undefined && OWN_REPLIES.has(method) ? r : this.redact(r))}\n`);
    };
    const refuse = () => {
      reply({ id: null, ok: false, error: { code: 'MESSAGE_TOO_LARGE', message: `message exceeds ${MAX_MESSAGE_BYTES} bytes` } });
      finish();
      socket.end();
    };
    const pump = () => {
      if (done || !socket.writable) return finish();
      // A subscriber's socket is read to its end, whatever its write buffer holds (Subscriber bounds that).
      if (streaming) return void socket.resume();
      // socket.write returned false: wait for 'drain' before producing more replies.
      while (inFlight < MAX_IN_FLIGHT && next < queue.length && !socket.writableNeedDrain) {
        const line = queue[next++];
        inFlight++;
        this.#dispatch(line, reply, startStream)
          .catch((error: unknown) => this.logger.error({ err: (error as Error)?.stack ?? String(error) }, 'control request failed'))
          .finally(() => {
            inFlight--;
            pump();
          });
      }
      if (next === queue.length) queue.length = next = 0;
      if (queue.length === 0 && !socket.writableNeedDrain) socket.resume();
      else socket.pause();
    };
    socket.on('drain', () => !streaming && pump());
    const startStream = (id: number, names: string[]): Response | undefined => {
      if (!this.subscribe) return { id, ok: false, error: { code: 'BAD_REQUEST', message: 'this daemon does not stream events' } };
      const subscriber = new Subscriber(socket, names);
      try {
        this.subscribe(subscriber);
      } catch (error) {
        const e = error as LocalPortError;
        return { id, ok: false, error: { code: e.code ?? 'INTERNAL', message: e.message ?? String(error), hint: e.hint, exitCode: e.exitCode } };
      }
      // The reply first (same tick as the registration: no event can come between), then events only.
      reply({ id, ok: true, result: { subscribed: names, v: EVENT_SCHEMA_VERSION } });
      streaming = true;
      queue.length = next = 0;
      partial = '';
      return undefined;
    };
    socket.on('data', (chunk: string) => {
      // A subscriber's further input is read (so that its close is seen) and ignored.
      if (done || streaming) return;
      let from = 0;
      let nl: number;
      while ((nl = chunk.indexOf('\n', from)) >= 0) {
        const line = partial + chunk.slice(from, nl);
        partial = '';
        from = nl + 1;
        if (line.length * 3 > MAX_MESSAGE_BYTES && Buffer.byteLength(line) > MAX_MESSAGE_BYTES) return refuse();
        if (line.trim()) queue.push(line);
      }
      partial += chunk.slice(from);
      // UTF-8 takes at most 3 bytes per UTF-16 unit: count bytes only when it could matter.
      if (partial.length * 3 > MAX_MESSAGE_BYTES && Buffer.byteLength(partial) > MAX_MESSAGE_BYTES) return refuse();
      pump();
    });
  }

  async #dispatch(line: string, reply: (r: Response, method?: Request['method']) => void, startStream: (id: number, names: string[]) => Response | undefined): Promise<void> {
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      reply({ id: null, ok: false, error: { code: 'BAD_REQUEST', message: 'not JSON: each request is one JSON object per line' } });
      return;
    }
    const parsed = requestSchema.safeParse(json);
    const id = json && typeof json === 'object' && typeof (json as { id?: unknown }).id === 'number' ? (json as { id: number }).id : null;
    if (!parsed.success) {
      const why = parsed.error.issues.map((i) => `${i.path.join('.') || '(request)'}: ${i.message}`).join('; ');
      reply({ id, ok: false, error: { code: 'BAD_REQUEST', message: `invalid request: ${why}` } });
      return;
    }
    if (parsed.data.method === 'subscribe') {
      const refused = startStream(parsed.data.id, parsed.data.params.names);
      if (refused) reply(refused);
      return;
    }
    try {
      reply({ id, ok: true, result: await this.handle(parsed.data) }, parsed.data.method);
    } catch (error) {
      const e = error as LocalPortError;
      if (!(error instanceof LocalPortError)) this.logger.error({ err: (error as Error)?.stack ?? String(error) }, 'control request failed');
      reply({ id, ok: false, error: { code: e.code ?? 'INTERNAL', message: e.message ?? String(error), hint: e.hint, exitCode: e.exitCode } });
    }
  }
}
