import type { ServiceLog } from '../log.js';
import type { ConnectionStatus, Endpoint, ExitExplanation, ExitInfo, FailureClass, ForwardSpec, Logger, ServiceDefinition, SharedConnectionSpec, Technology } from '../types.js';
import { controlPath, describeEndpoint, removeSocket } from './endpoints.js';
import { Once, type Forward } from './Forward.js';
import { ForwardProcess } from './ForwardProcess.js';
import { START_TIMEOUT_MS, whenReady } from './readiness.js';
import { explainExit } from './explain.js';

/**
 * A failed start of a shared connection is the answer, for this long, to every service that asks for
 * it: one attempt against the server, not one per service (a refused login is never repeated 50 times).
 */
const FAILED_START_REUSE_MS = 1000;
/** How long a connection stays after its last service left for a restart (not a stop). */
const RELEASE_LINGER_MS = 3000;
/** How often a running connection is asked whether it answers (SharedConnectionSpec.alive). */
const WATCHDOG_MS = 10_000;
/** Control-socket errors that mean the process cannot serve: replaced. */
const unreachable = (code: string | undefined) => code === 'ENOENT' || code === 'ECONNREFUSED' || code === 'ETIMEDOUT';
/** How long detaching one forward may take before its service counts as stopped anyway. */
const DETACH_GRACE_MS = 2000;

type LogSink = Pick<ServiceLog, 'line' | 'redactor'>;

/** Why a shared connection could not serve a service: said once per service, classified like an exit. */
export class ConnectionFailure extends Error {
  constructor(
    message: string,
    readonly failure: FailureClass,
  ) {
    super(message);
  }
}

/** The start was abandoned (every service on it stopped). */
export class ConnectionAborted extends Error {}

interface ConnectionOptions {
  technology: string;
  key: string;
  id: string;
  label: string;
  spec: SharedConnectionSpec;
  logger: Logger;
  redactor: LogSink['redactor'];
  internalError(where: string, error: unknown): void;
}

/**
 * One connection that many services ride on (ssh: an OpenSSH master), keyed by what makes it the same
 * connection. Its process runs while at least one service is attached; it is supervised as a tunnel is
 * (a readiness rule, its exit heard at once), and when it dies every forward on it ends with it, so each
 * service restarts under its own policy and they all come back on the next process, which the first of
 * them starts and the others wait for. Its output goes to the log of every service on it.
 */
export class SharedConnection {
  readonly #users = new Set<SharedForward>();
  /**
   * The services that ride on it, attached or waiting to be (restarting, starting, idle): what status
   * counts. A service restarting after the connection died has no forward on it, and is still its.
   */
  readonly #members = new Set<object>();
  #proc: ForwardProcess | undefined;
  #control: string | undefined;
  #spec: ForwardSpec | undefined;
  #starting: Promise<ForwardProcess> | undefined;
  #startAbort: AbortController | undefined;
  /** The previous process's end: a new one starts only once it is gone (its control socket with it). */
  #stopped: Promise<void> = Promise.resolve();
  #lastFailure: { error: ConnectionFailure; at: number } | undefined;
  #readyAt: Date | null = null;
  #starts = 0;
  readonly #lineListeners = new Set<(line: string) => void>();
  /** The last service left for a restart: the process waits a moment for it (RELEASE_LINGER_MS). */
  #linger: NodeJS.Timeout | undefined;
  /** Processes stopped on purpose (the last service left): their end is no news. */
  readonly #ended = new WeakSet<ForwardProcess>();

  /** The process's output goes to the log of every service on the connection. */
  readonly #log: LogSink;

  constructor(readonly opts: ConnectionOptions) {
    this.#log = {
      line: (stream, text) => {
        // Marked: a line of the shared connection may be about another service on it.
        for (const user of this.#users) user.log.line(stream, `[${opts.id}] ${text}`);
      },
      redactor: opts.redactor,
    };
  }

  get id(): string {
    return this.opts.id;
  }

  get pid(): number | null {
    return this.#readyAt ? (this.#proc?.pid ?? null) : null;
  }

  get control(): string | undefined {
    return this.#control;
  }

  get tail(): readonly string[] {
    return this.#proc?.tail ?? [];
  }

  status(): ConnectionStatus {
    return {
      id: this.opts.id,
      label: this.opts.label,
      pid: this.pid,
      since: this.pid ? (this.#readyAt?.toISOString() ?? null) : null,
      restarts: Math.max(0, this.#starts - 1),
      services: this.#members.size,
    };
  }

  /** `member` (a service's supervisor) rides on this connection until it leaves: it stopped, failed or moved. */
  join(member: object): void {
    this.#members.add(member);
  }

  leave(member: object): void {
    this.#members.delete(member);
  }

  onLine(listener: (line: string) => void): () => void {
    this.#lineListeners.add(listener);
    return () => this.#lineListeners.delete(listener);
  }

  /** Explains the process's end as its technology does, for every service on it. */
  explainExit(info: ExitInfo): string | ExitExplanation | undefined {
    return this.#spec?.explainExit?.(info);
  }

  /**
   * The running, ready process for `user`, starting it if nobody has; rejects with a ConnectionFailure
   * (or ConnectionAborted when `signal` aborts first).
   */
  async acquire(user: SharedForward, service: ServiceDefinition, signal: AbortSignal): Promise<ForwardProcess> {
    this.#users.add(user);
    clearTimeout(this.#linger);
    if (this.#proc && this.#readyAt && this.#proc.pid) return this.#proc;
    // A start that every service left is being abandoned: this one needs a start of its own.
    if (!this.#starting || this.#startAbort?.signal.aborted) {
      const failed = this.#lastFailure;
      if (failed && Date.now() - failed.at < FAILED_START_REUSE_MS) throw failed.error;
      this.#startAbort = new AbortController();
      const starting = this.#start(service, this.#startAbort.signal);
      this.#starting = starting;
      const done = () => {
        if (this.#starting === starting) this.#starting = undefined;
      };
      void starting.then(done, done);
    }
    const starting = this.#starting!;
    return new Promise<ForwardProcess>((resolve, reject) => {
      const onAbort = () => reject(new ConnectionAborted());
      if (signal.aborted) return onAbort();
      signal.addEventListener('abort', onAbort, { once: true });
      starting.then(
        (proc) => {
          signal.removeEventListener('abort', onAbort);
          resolve(proc);
        },
        (error) => {
          signal.removeEventListener('abort', onAbort);
          reject(error);
        },
      );
    });
  }

  /**
   * `user` no longer rides on the connection; the last one to leave stops its process. Resolves once
   * that process has ended (at once for the others): a stopped service leaves nothing running.
   */
  release(user: SharedForward, final = true): Promise<void> {
    if (!this.#users.delete(user) || this.#users.size > 0) return Promise.resolve();
    if (!final && this.#proc) {
      // A restart, not a stop: the service comes back in a moment; every service on it restarting at
      // once (a forward the server forbids) must not cost a new login each round.
      clearTimeout(this.#linger);
      this.#linger = setTimeout(() => void this.stopIfUnused(), RELEASE_LINGER_MS);
      this.#linger.unref();
      return Promise.resolve();
    }
    return this.stopIfUnused();
  }

  /** Stops the process now if no service rides on it (a lingering one, at shutdown). */
  stopIfUnused(): Promise<void> {
    clearTimeout(this.#linger);
    if (this.#users.size > 0) return Promise.resolve();
    this.#startAbort?.abort();
    const proc = this.#proc;
    if (!proc) return this.#stopped;
    this.#proc = undefined;
    this.#readyAt = null;
    this.#ended.add(proc);
    this.opts.logger.info({ connection: this.opts.id }, `connection ${this.opts.id} (${this.opts.label}): no service left on it; stopping it`);
    this.#stopped = proc.stop();
    return this.#stopped;
  }

  /**
   * A process that stops answering on its control socket (SIGSTOPped, wedged) still accepts on every
   * forward's socket (the kernel does), so health checks that send nothing pass while no byte moves: it
   * is asked every WATCHDOG_MS, and replaced when it does not answer.
   */
  #watch(proc: ForwardProcess, control: string): void {
    const alive = this.opts.spec.alive;
    if (!alive) return;
    let asking = false;
    const timer = setInterval(() => {
      if (this.#proc !== proc) return clearInterval(timer);
      if (asking) return;
      asking = true;
      alive({ control, logger: this.opts.logger, signal: AbortSignal.timeout(WATCHDOG_MS) }).then(
        () => (asking = false),
        (error: NodeJS.ErrnoException) => {
          asking = false;
          if (this.#proc === proc && unreachable(error.code)) this.discard(`it did not answer on its control socket (${error.code})`);
        },
      );
    }, WATCHDOG_MS);
    timer.unref();
    proc.onExit(() => clearInterval(timer));
  }

  /** The process cannot serve (its control socket is gone): it is stopped, and the next acquire starts another. */
  discard(reason: string): void {
    const proc = this.#proc;
    if (!proc) return;
    this.opts.logger.warn({ connection: this.opts.id }, `connection ${this.opts.id} (${this.opts.label}): ${reason}; replacing it`);
    this.#proc = undefined;
    this.#readyAt = null;
    this.#stopped = proc.stop();
  }

  /** Kills the process at once (process exit, where nothing can be awaited). */
  killNow(): void {
    this.#proc?.killNow();
  }

  async #start(service: ServiceDefinition, abort: AbortSignal): Promise<ForwardProcess> {
    await this.#stopped;
    if (abort.aborted) throw new ConnectionAborted();
    const control = controlPath();
    if (!control) throw new ConnectionFailure('no private directory for the connection\'s control socket', 'permanent');
    const { technology, logger, spec: shared } = this.opts;
    let spec: ForwardSpec;
    try {
      spec = await shared.open(service, { control, logger });
    } catch (error) {
      throw new ConnectionFailure(`could not open the shared ${technology} connection: ${(error as Error).message}`, 'permanent');
    }
    this.#spec = spec;
    this.#control = control;
    const proc = new ForwardProcess(spec, {
      log: this.#log,
      logger,
      service: `connection ${this.opts.id}`,
      technology,
      internalError: this.opts.internalError,
      env: { LOCALPORT_CONNECTION: this.opts.id },
    });
    this.#starts += 1;
    await proc.start();
    this.#proc = proc;
    proc.onLine((line) => this.#lineListeners.forEach((l) => l(line)));
    // Dead the moment its leader exits: the next acquire starts another, once this one has fully ended.
    proc.onDying(() => {
      if (this.#proc !== proc) return;
      this.#proc = undefined;
      this.#readyAt = null;
      this.#stopped = new Promise((resolve) => proc.onExit(() => resolve()));
    });
    proc.onExit((info) => {
      removeSocket({ path: control });
      if (this.#proc === proc) {
        this.#proc = undefined;
        this.#readyAt = null;
      }
      if (!this.#ended.has(proc)) logger.warn({ connection: this.opts.id, exitCode: info.exitCode, signal: info.signal }, `connection ${this.opts.id} (${this.opts.label}) ended`);
    });
    const outcome = await whenReady(proc, { rule: spec.ready, endpoint: { path: control }, signal: abort });
    if ('ready' in outcome) {
      this.#readyAt = new Date();
      this.#watch(proc, control);
      this.#lastFailure = undefined;
      logger.info({ connection: this.opts.id, pid: proc.pid }, `connection ${this.opts.id} (${this.opts.label}) is up`);
      return proc;
    }
    if (this.#proc === proc) this.#proc = undefined;
    this.#stopped = proc.stop();
    if ('aborted' in outcome) throw new ConnectionAborted();
    let error: ConnectionFailure;
    if ('exited' in outcome) {
      const { message, failure } = this.#explain(outcome.exited);
      error = new ConnectionFailure(message, failure);
    } else {
      const last = proc.tail.filter(Boolean).pop();
      error = new ConnectionFailure(`the shared ${technology} connection to ${this.opts.label} did not become ready within ${START_TIMEOUT_MS / 1000} s${last ? ` (last output: ${last})` : ''}`, 'transient');
    }
    this.#lastFailure = { error, at: Date.now() };
    throw error;
  }

  #explain(info: ExitInfo): Required<ExitExplanation> {
    const spec = this.#spec;
    return explainExit(spec?.explainExit && ((i) => spec.explainExit!(i)), info, `the shared ${this.opts.technology} connection`, (error) => this.opts.internalError(`explainExit of technology ${this.opts.technology}`, error));
  }


}

/**
 * One service's forward on a shared connection, as the state machine sees a forward: it is up once the
 * connection is and the forward is attached; it ends when the connection's process ends (with that
 * process's exit), or when it is stopped (detached, and the connection released).
 */
export class SharedForward implements Forward {
  readonly #exit = new Once<ExitInfo>((error) => this.ctx.internalError("handling the shared connection's end", error));
  readonly #dying = new Once<void>((error) => this.ctx.internalError("handling the shared connection's death", error));
  #proc: ForwardProcess | undefined;
  #attached = false;
  #stopping: Promise<void> | undefined;

  constructor(
    readonly connection: SharedConnection,
    readonly service: ServiceDefinition,
    private readonly ctx: {
      listen: Endpoint;
      log: LogSink;
      logger: Logger;
      internalError(where: string, error: unknown): void;
    },
  ) {}

  get log(): LogSink {
    return this.ctx.log;
  }

  get pid(): number | null {
    return this.#exit.happened ? null : (this.#proc?.pid ?? null);
  }

  get tail(): readonly string[] {
    return this.connection.tail;
  }

  async start(): Promise<void> {}

  onLine(listener: (line: string) => void): () => void {
    return this.connection.onLine(listener);
  }

  onDying(listener: () => void): () => void {
    return this.#dying.listen(listener);
  }

  onExit(listener: (info: ExitInfo) => void): () => void {
    return this.#exit.listen(listener);
  }

  /**
   * Brings the forward up: the connection (started, or waited for), then this service's forward on it.
   * Rejects with a ConnectionFailure (the connection's, or the attach's), or ConnectionAborted.
   */
  async open(signal: AbortSignal): Promise<void> {
    const proc = await this.connection.acquire(this, this.service, signal);
    this.#proc = proc;
    proc.onDying(() => this.#dying.settle());
    proc.onExit((info) => {
      // The connection's process ended: so did this forward (its socket with it). The service starts a
      // new one, which acquires the connection again.
      removeSocket(this.ctx.listen);
      void this.connection.release(this);
      this.#dying.settle();
      this.#exit.settle(info);
    });
    if (this.#exit.happened) throw new ConnectionFailure(`the shared connection ${this.connection.id} ended as the forward was added`, 'transient');
    let timer: NodeJS.Timeout | undefined;
    try {
      const attached = this.connection.opts.spec.attach(this.service, this.#context(signal));
      const late = new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new ConnectionFailure(`the shared connection ${this.connection.id} did not add the forward within ${START_TIMEOUT_MS / 1000} s`, 'transient')), START_TIMEOUT_MS);
      });
      await Promise.race([attached, late]);
    } catch (error) {
      if (signal.aborted) throw new ConnectionAborted();
      if (error instanceof ConnectionFailure) throw error;
      const code = (error as NodeJS.ErrnoException).code;
      // The process runs but cannot be reached through its control socket (deleted, or not answering):
      // no forward can be added to it, now or later. It is replaced; every service on it restarts.
      if (unreachable(code)) this.connection.discard(`its control socket cannot be reached (${code})`);
      throw new ConnectionFailure(`could not add the forward on the shared connection ${this.connection.id}: ${(error as Error).message}`, 'transient');
    } finally {
      clearTimeout(timer);
    }
    this.#attached = true;
    // The service's own log says where its forward is; the connection's output there is marked [id].
    this.ctx.log.line('localport', `forward added on the shared connection ${this.connection.id} (pid ${proc.pid}): ${describeEndpoint(this.ctx.listen)}`);
    if (this.#exit.happened) throw new ConnectionFailure(`the shared connection ${this.connection.id} ended as the forward was added`, 'transient');
  }

  #context(signal: AbortSignal) {
    return { control: this.connection.control ?? '', listen: this.ctx.listen, signal, logger: this.ctx.logger };
  }

  /**
   * Detaches the forward (the connection and its other forwards stay) and lets go of the connection.
   * `final`: the service stops (the connection stops now if it was the last); else it restarts, and the
   * connection waits a moment for it.
   */
  stop(final = false): Promise<void> {
    this.#stopping ??= (async () => {
      if (this.#attached && !this.#exit.happened && this.connection.control) {
        let timer: NodeJS.Timeout | undefined;
        try {
          const detached = this.connection.opts.spec.detach(this.service, this.#context(AbortSignal.timeout(DETACH_GRACE_MS)));
          await Promise.race([detached, new Promise((r) => (timer = setTimeout(r, DETACH_GRACE_MS)))]);
          this.ctx.log.line('localport', `forward cancelled on the shared connection ${this.connection.id}`);
        } catch (error) {
          // The connection may be going away at the same moment: the forward is gone with it then.
          this.ctx.logger.debug({ service: this.service.name, err: (error as Error).message }, 'detach failed');
        } finally {
          clearTimeout(timer);
        }
      }
      removeSocket(this.ctx.listen);
      await this.connection.release(this, final);
      this.#dying.settle();
      this.#exit.settle({ exitCode: 0, output: '' });
    })();
    return this.#stopping;
  }

  /** Process exit: the connection's process is killed with everything else LocalPort started. */
  killNow(): void {
    this.connection.killNow();
  }
}

/** The shared connections of one LocalPort process, one per technology and key. */
export class SharedConnections {
  readonly #byKey = new Map<string, SharedConnection>();
  readonly #counters = new Map<string, number>();

  /** The connection for this technology and key, made on first use (kept: a later start reuses its id). */
  get(opts: Omit<ConnectionOptions, 'id'>): SharedConnection {
    const k = opts.key;
    let connection = this.#byKey.get(k);
    if (!connection) {
      const n = (this.#counters.get(opts.technology) ?? 0) + 1;
      this.#counters.set(opts.technology, n);
      connection = new SharedConnection({ ...opts, id: `${opts.technology}#${n}` });
      this.#byKey.set(k, connection);
    }
    return connection;
  }

  all(): SharedConnection[] {
    return [...this.#byKey.values()];
  }

  /** At shutdown: every connection no service rides on any more stops now (one lingering for a restart too). */
  async stopUnused(): Promise<void> {
    await Promise.all(this.all().map((c) => c.stopIfUnused()));
  }
}

/**
 * The shared connection a service would ride on, without starting anything: its technology's key and
 * label, or undefined when it runs a connection of its own (no sharing technology, `share_connection:
 * false`, `relay: false`). What a progress tree groups services by before they start.
 */
export function connectionGroup(technology: Technology, service: ServiceDefinition): { key: string; label: string } | undefined {
  const shared = technology.shared;
  if (!shared || !service.shareConnection || service.relay === false || process.platform === 'win32') return undefined;
  const key = shared.key(service);
  return key === undefined ? undefined : { key: `${technology.type}\0${key}`, label: shared.describe(service) };
}
