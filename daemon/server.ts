import { chmodSync, lstatSync, renameSync, rmSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { LocalPortError } from '../core/errors.js';
import type { Logger } from '../core/types.js';
import { ping } from '../app/control/client.js';
import { MAX_MESSAGE_BYTES, requestSchema, type Request, type Response } from '../app/control/protocol.js';

let bindCount = 0;

/** Requests of one connection handled at once; the rest wait in order, and its socket is not read meanwhile. */
const MAX_IN_FLIGHT = 4;

export type Handler = (request: Request) => Promise<unknown>;

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

  /** Stops accepting connections; open ones are closed once their reply is written. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.#server.close(() => resolve()));
    for (const s of this.#sockets) s.end();
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
    const finish = () => {
      done = true;
      queue.length = next = 0;
      partial = '';
    };
    socket.on('close', () => {
      this.#sockets.delete(socket);
      finish();
    });
    const reply = (r: Response) => {
      if (!done && socket.writable) socket.write(`${JSON.stringify(this.redact(r))}\n`);
    };
    const refuse = () => {
      reply({ id: null, ok: false, error: { code: 'MESSAGE_TOO_LARGE', message: `message exceeds ${MAX_MESSAGE_BYTES} bytes` } });
      finish();
      socket.end();
    };
    const pump = () => {
      if (done || !socket.writable) return finish();
      // socket.write returned false: wait for 'drain' before producing more replies.
      while (inFlight < MAX_IN_FLIGHT && next < queue.length && !socket.writableNeedDrain) {
        const line = queue[next++];
        inFlight++;
        this.#dispatch(line, reply)
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
    socket.on('drain', pump);
    socket.on('data', (chunk: string) => {
      if (done) return;
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

  async #dispatch(line: string, reply: (r: Response) => void): Promise<void> {
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
    try {
      reply({ id, ok: true, result: await this.handle(parsed.data) });
    } catch (error) {
      const e = error as LocalPortError;
      if (!(error instanceof LocalPortError)) this.logger.error({ err: (error as Error)?.stack ?? String(error) }, 'control request failed');
      reply({ id, ok: false, error: { code: e.code ?? 'INTERNAL', message: e.message ?? String(error), hint: e.hint, exitCode: e.exitCode } });
    }
  }
}
