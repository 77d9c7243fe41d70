import { readFileSync } from 'node:fs';
import type { Duplex } from 'node:stream';
import { bindAddressOf, listenHosts, optionalHosts, reachableAddress, showAddress } from '../address.js';
import { failureClass, LocalPortError, PluginError, ServiceError, ServiceFailure, type ErrorCode } from '../errors.js';
import type { LocalPort } from '../LocalPort.js';
import { ServiceLog } from '../log.js';
import { serviceLogFile } from '../dirs.js';
import type { Endpoint, ExitExplanation, ExitInfo, FailureClass, ForwardSpec, Logger, ServiceDefinition, ServiceState, ServiceStatus, Technology } from '../types.js';
import { backoffDelay, mayRestart } from './backoff.js';
import { bindFailure, bindProblem, canConnect } from './ports.js';
import { connectTo, describeEndpoint, internalEndpoint, removeSocket } from './endpoints.js';
import { emptyTraffic, Front, isOwnAddress, type Connector } from './front.js';
import { StreamForward } from './StreamForward.js';
import { ConnectionAborted, ConnectionFailure, connectionGroup, SharedConnections, SharedForward, type SharedConnection } from './SharedConnection.js';
import type { Forward } from './Forward.js';
import { ForwardProcess, STOP_GRACE_MS } from './ForwardProcess.js';
import { HealthMonitor, type HealthVerdict } from './HealthMonitor.js';
import { START_TIMEOUT_MS, whenReady } from './readiness.js';
import { explainExit } from './explain.js';

export { START_TIMEOUT_MS, STOP_GRACE_MS };

class Aborted extends Error {}

/** The shared connections (ssh masters) of each LocalPort hub: every supervisor of the hub, across reloads, sees the same. */
const connectionsOf = new WeakMap<LocalPort, SharedConnections>();
/** At shutdown, after every service stopped: a shared connection lingering for a restart stops too. */
export const stopSharedConnections = (hub: LocalPort): Promise<void> => connectionsOf.get(hub)?.stopUnused() ?? Promise.resolve();

const sharedConnections = (hub: LocalPort) => {
  let registry = connectionsOf.get(hub);
  if (!registry) connectionsOf.set(hub, (registry = new SharedConnections()));
  return registry;
};

/**
 * One service's state machine with its restart policy. It starts the service's forward (a Forward:
 * today a ForwardProcess), waits until it is ready (readiness.ts), hears the moment it exits and what
 * the health monitor concludes, restarts it under the policy, and stops it. Observer hooks are fired
 * on the way, never waited for.
 */
export class ServiceSupervisor {
  state: ServiceState = 'stopped';
  restarts = 0;
  /** Restart attempts since the service was last stable. */
  attempts = 0;
  lastError: string | null = null;
  /** When lastError was set. */
  lastErrorAt: Date | null = null;
  since: Date | null = null;
  /** Start and restart attempts that failed, in all (successful restarts are `restarts`). */
  failedAttempts = 0;
  /** When the next restart attempt is due, while one is scheduled. */
  nextRetryAt: Date | null = null;

  #forward: Forward | undefined;
  /** The spec `#forward` was made from: its explainExit names why it ended. */
  #currentSpec: Pick<ForwardSpec, 'explainExit' | 'explainConnectionFailure'> | undefined;
  /** The shared connection the service rides on (the last one, while it restarts). */
  #connection: SharedConnection | undefined;
  /** LocalPort's listener on the user's port (with the relay): it lives from start to stop, across restarts. */
  #front: Front | undefined;
  /** Traffic counted by every front this service opens (and by the one it took over in a reload). */
  #traffic = emptyTraffic();
  /** A front handed over by the supervisor this one replaces (see handOverFront). */
  #adopted: Front | undefined;
  /** After handing the front over: resolves once the old tunnel's connections are done (stop waits for it). */
  #drain: Promise<void> | undefined;
  /** Where the current forward listens (an internal endpoint with the relay), and how to reach it. */
  #endpoint: Endpoint | undefined;
  #connector: Connector | undefined;
  /** An idle stop in progress: a connection arriving meanwhile starts the tunnel once it is done. */
  #idling: Promise<void> | undefined;
  #launch: AbortController | undefined;
  /** The start attempt in flight, if any; stop() waits for it to clean up after itself. */
  #launching: Promise<void> | undefined;
  #restartTimer: NodeJS.Timeout | undefined;
  #stableTimer: NodeJS.Timeout | undefined;
  #stopping = false;
  readonly #log: ServiceLog;
  readonly #logger: Logger;
  readonly #technology: Technology;
  /** Resolvers waiting for the next ready/failed state (used by `whenSettled`). */
  #waiters: (() => void)[] = [];
  /** Why the current process is being killed on purpose (a failed health check), if it is. */
  #killReason: string | undefined;
  /** Set when the process is killed because the service cannot go on (credentials refused): no restart. */
  #failReason: { reason: string; code: ErrorCode } | undefined;
  /** Whether the forward was ready since the last start(): a setup mistake is retried only after that. */
  #everReady = false;
  /** The code of the error that put the service in `failed` (for callers of start and whenHealthy). */
  #failureCode: ErrorCode = 'START_FAILED';
  /** Callers of whenHealthy, told when the service fails instead. */
  #failureWaiters: ((error: Error) => void)[] = [];
  /** Observer hooks still running (see #notify). */
  readonly #observers = new Set<Promise<void>>();
  readonly health: HealthMonitor;

  constructor(
    readonly service: ServiceDefinition,
    readonly hub: LocalPort,
    opts: { configFile?: string } = {},
  ) {
    this.#technology = hub.technologies.get(service.technology);
    this.#log = new ServiceLog(serviceLogFile(service.name, opts.configFile), hub.redactor);
    this.#logger = hub.logger;
    this.health = new HealthMonitor(this, hub, hub.logger);
    this.health.onVerdict((verdict) => this.#onHealth(verdict));
  }

  get name(): string {
    return this.service.name;
  }

  get pid(): number | null {
    return this.#forward?.pid ?? null;
  }

  get localAddress(): string {
    // A forward bound to every interface is reached on loopback.
    return reachableAddress(this.#hosts()[0]);
  }

  /** Whether LocalPort's front owns the local port (see ServiceDefinition.relay). */
  get relayed(): boolean {
    return this.service.relay !== false;
  }

  #hosts(): string[] {
    return listenHosts(this.#technology, { relay: this.relayed, connection: this.service.connection });
  }

  /** The addresses the service listens on, as shown: what the front bound, or what it will bind. */
  #listen(): string[] {
    const hosts = this.#front?.listening.length ? this.#front.listening : this.#hosts();
    return hosts.map((h) => showAddress(h, this.service.localPort));
  }

  get logFile(): string {
    return this.#log.file;
  }

  status(): ServiceStatus {
    const s = this.service;
    return {
      name: s.name,
      technology: s.technology,
      state: this.state,
      pid: this.pid,
      localAddress: this.localAddress,
      localPort: s.localPort,
      listen: this.#listen(),
      remotePort: s.remotePort,
      target: this.#target(),
      tags: s.tags,
      restarts: this.restarts,
      relay: this.relayed,
      start: s.start ?? 'eager',
      traffic: this.relayed ? (this.#front?.metrics() ?? { ...this.#traffic, active: 0, held: 0 }) : null,
      since: this.since?.toISOString() ?? null,
      lastError: this.lastError,
      lastErrorAt: this.lastErrorAt?.toISOString() ?? null,
      attempt: this.attempts,
      failedAttempts: this.failedAttempts,
      nextRetryAt: this.nextRetryAt?.toISOString() ?? null,
      health: this.health.status(),
      connection: this.#connection?.status() ?? null,
    };
  }

  /**
   * Starts collecting what the forward prints while a health check runs; the returned function, called
   * once the check failed, says why in the technology's words if that output does (ssh: the target behind
   * the tunnel refused), else undefined. Call it also when the check passed: it stops collecting.
   */
  watchOutput(): (failed: boolean) => Promise<string | undefined> {
    const forward = this.#forward;
    const spec = this.#currentSpec;
    if (!forward || !spec?.explainConnectionFailure) return async () => undefined;
    const lines: string[] = [];
    const stop = forward.onLine((line) => {
      if (lines.length < 50) lines.push(line);
    });
    return async (failed) => {
      // What the tunnel printed about the failed connection may still be in its pipe.
      if (failed && lines.length === 0) await new Promise((r) => setTimeout(r, 100));
      stop();
      if (!failed || lines.length === 0) return undefined;
      try {
        return spec.explainConnectionFailure?.(lines) || undefined;
      } catch (error) {
        this.#internalError(`explainConnectionFailure of technology ${this.#technology.type}`, error);
        return undefined;
      }
    };
  }

  #targetFailed = false;

  /** A technology's description of the target; a plugin bug there must not break `status` for every service. */
  #target(): string {
    try {
      return this.#technology.describeTarget(this.service);
    } catch (error) {
      // Once: status is polled.
      if (!this.#targetFailed) this.#internalError(`describeTarget of technology ${this.#technology.type}`, error);
      this.#targetFailed = true;
      return `${this.service.technology} :${this.service.remotePort}`;
    }
  }

  /**
   * An error in LocalPort's handling of this service (its output, an exit explanation, a plugin's
   * observer) is logged against the service, here and in its own log; it never travels further.
   */
  #internalError(where: string, error: unknown): void {
    const message = `error in ${where}: ${error instanceof Error ? error.message : String(error)}`;
    try {
      this.#logger.error({ service: this.name, err: error instanceof Error ? error.stack : String(error) }, `service ${this.name}: ${message}`);
      this.#log.line('localport', message);
    } catch {
      /* logging is best effort here: nothing may escape */
    }
  }

  #setState(to: ServiceState, error?: string): void {
    const from = this.state;
    if (from === to && !error) return;
    this.state = to;
    this.since = new Date();
    // A health result was measured on a tunnel that is now gone (or going): it is not current. Health is
    // unknown until a check runs on the next tunnel, before observers hear of the change, so status,
    // JSON, /metrics and the dashboard agree. The last check's message and time stay, as the last word.
    if (to !== 'ready') {
      this.health.stop();
      this.health.forget();
    }
    // Stopped or failed, it no longer rides on its shared connection; restarting, it still does.
    if (to === 'stopped' || to === 'failed') this.#connection?.leave(this);
    if (error !== undefined) {
      this.lastError = error;
      this.lastErrorAt = new Date();
    }
    this.#logger.info({ service: this.name, from, to, error }, `service ${this.name}: ${from} → ${to}`);
    this.#log.line('localport', `state ${from} → ${to}${error ? `: ${error}` : ''}`);
    try {
      this.hub.hooks.stateChanged.call({ service: this.service, from, to, error });
    } catch (e) {
      this.#logger.error({ service: this.name, err: (e as Error).message }, 'stateChanged observer failed');
    }
    if (to === 'ready' || to === 'failed' || to === 'stopped') {
      const waiters = this.#waiters;
      this.#waiters = [];
      waiters.forEach((w) => w());
    }
    if (to === 'failed') {
      const waiters = this.#failureWaiters;
      this.#failureWaiters = [];
      const error = this.#failedError();
      waiters.forEach((w) => w(error));
    }
  }

  /** The service cannot run: settle in `failed`, naming why. Its port is let go: nothing will serve it. */
  #fail(message: string, code: ErrorCode = 'START_FAILED'): void {
    this.#failureCode = code;
    void this.#closeFront();
    this.#setState('failed', message);
  }

  /**
   * Opens the front on the user's port. A port that is taken, or an address that is not this machine's,
   * fails the start as the tunnel's own bind used to, naming what holds the port.
   */
  async #openFront(): Promise<void> {
    const s = this.service;
    const hosts = this.#hosts();
    const adopted = this.#adopted;
    this.#adopted = undefined;
    if (adopted) {
      // The previous definition's front, on the same addresses: its connections wait for this tunnel.
      adopted.rehome({ ...this.#frontHandlers(), holdTimeoutMs: (s.holdTimeout ?? 10) * 1000 });
      this.#front = adopted;
      return;
    }
    const front = new Front({
      service: s.name,
      hosts,
      optionalHosts: optionalHosts(hosts),
      port: s.localPort,
      holdTimeoutMs: (s.holdTimeout ?? 10) * 1000,
      logger: this.#logger,
      metrics: this.#traffic,
      ...this.#frontHandlers(),
    });
    try {
      await front.listen();
    } catch (error) {
      const e = error as NodeJS.ErrnoException & { address?: string };
      throw bindFailure(s.name, s.localPort, e.address ?? hosts[0], e);
    }
    this.#front = front;
  }

  #frontHandlers() {
    const s = this.service;
    return {
      onDemand: () => this.#onDemand(),
      onUpstreamRefused: (error: Error) => this.#upstreamRefused(error),
      upstreamAlive: () => this.#tunnelAlive(),
      ...(s.idleStop !== undefined ? { idleMs: s.idleStop * 1000, onIdle: () => this.#onIdle() } : {}),
    };
  }

  /**
   * Whether the tunnel's process is alive right now, from /proc (Linux): gone, or a zombie, is dead. An
   * in-process forward has no process: a FIN from its stream is the far end's. Undefined elsewhere.
   */
  #tunnelAlive(): boolean | undefined {
    const forward = this.#forward;
    if (forward instanceof StreamForward) return true;
    const pid = forward?.pid;
    if (!pid || process.platform !== 'linux') return undefined;
    try {
      const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
      return stat.slice(stat.lastIndexOf(')') + 2, stat.lastIndexOf(')') + 3) !== 'Z';
    } catch {
      return false;
    }
  }

  /**
   * The upstream refused a connection while ready. A tunnel process that refuses is dying, and its exit
   * is heard at once; an in-process forward has no exit: its target went away (a database restarted, a
   * VPN dropped). It ends now, as a process would, and the restart policy takes over, instead of each
   * new connection waiting out its hold for a health check to notice.
   */
  #upstreamRefused(error: Error): void {
    const forward = this.#forward;
    if (!(forward instanceof StreamForward) || this.state !== 'ready' || this.#stopping) return;
    const code = (error as NodeJS.ErrnoException).code;
    // A plugin's bug and a loop say what they are; a refusal is a target that may come back.
    if (error instanceof PluginError) forward.lost(error.message, 'permanent');
    else if (code === 'ELOOP') forward.lost(`${error.message}: the service would relay to itself; point it at the real server`, 'permanent');
    else forward.lost(`the target refused a connection (${code ?? error.message})`, 'transient');
  }

  /**
   * A hot reload changed this service: the front goes to `next` (the new definition's supervisor) if it
   * listens on the same addresses and port, so the port stays open through the change and new connections
   * wait for the new tunnel instead of being refused. Call before stopping this one; true if handed over.
   */
  handOverFront(next: ServiceSupervisor): boolean {
    const front = this.#front;
    if (!front || !next.relayed || next.service.localPort !== this.service.localPort) return false;
    if (JSON.stringify(next.#hosts()) !== JSON.stringify(this.#hosts())) return false;
    this.#front = undefined;
    // Connections in flight on the old tunnel may finish (up to the hold bound) before it is stopped;
    // new ones wait for the new tunnel.
    const generation = front.generation;
    front.notReady(false);
    this.#drain = front.drained(generation, (this.service.holdTimeout ?? 10) * 1000);
    next.#adopted = front;
    next.#traffic = this.#traffic;
    return true;
  }

  async #closeFront(): Promise<void> {
    const front = this.#front;
    this.#front = undefined;
    await front?.close();
  }

  /** A connection came and no tunnel serves it: an idle service starts its tunnel. */
  #onDemand(): void {
    if (this.state !== 'idle' || this.#stopping) return;
    void this.#wake();
  }

  async #wake(): Promise<void> {
    await this.#idling;
    if (this.state !== 'idle' || this.#stopping) return;
    this.#logger.info({ service: this.name }, `service ${this.name}: a connection came; starting its tunnel`);
    this.#log.line('localport', 'a connection came: starting the tunnel');
    this.attempts = 0;
    try {
      await this.#tracked(this.#launchUntilSettled(true));
    } catch (error) {
      // Failed (and said so in state, status and the log); held connections were closed with the front.
      this.#logger.debug({ service: this.name, err: (error as Error).message }, 'on-demand start failed');
    }
  }

  /** No connection for `idle_stop` seconds: the tunnel stops, the front stays; not a failure. */
  #onIdle(): void {
    const forward = this.#forward;
    if (this.state !== 'ready' || this.#stopping || !forward) return;
    this.#forward = undefined;
    this.#front?.notReady(false);
    this.#connector = undefined;
    clearTimeout(this.#stableTimer);
    this.#logger.info({ service: this.name }, `service ${this.name}: no connection for ${this.service.idleStop} s; stopping its tunnel until the next one`);
    this.#setState('idle');
    const endpoint = this.#endpoint;
    this.#idling = forward.stop().finally(() => {
      if (endpoint) removeSocket(endpoint);
      this.#idling = undefined;
    });
  }

  /**
   * Where health checks reach the upstream, never the front: the tunnel's own TCP port, or the front's
   * private check port (which relays straight to a Unix socket or an in-process forward, holding nothing).
   */
  async upstream(signal: AbortSignal): Promise<{ host: string; port: number; connect(): Promise<Duplex> }> {
    const endpoint = this.#endpoint;
    if (!this.relayed || !endpoint) {
      const host = this.localAddress;
      const port = this.service.localPort;
      return { host, port, connect: () => connectTo({ host, port }, signal) };
    }
    const connect = () => {
      const connector = this.#connector;
      return connector ? connector(signal) : Promise.reject(Object.assign(new Error('the tunnel is not running'), { code: 'ECONNREFUSED' }));
    };
    if (!('path' in endpoint) && !(this.#forward instanceof StreamForward)) return { host: endpoint.host, port: endpoint.port, connect };
    const port = this.#front ? await this.#front.checkPort() : 0;
    return { host: '127.0.0.1', port, connect };
  }

  /** What a caller waiting for this service is told once it has failed. */
  #failedError(): ServiceError {
    const message = this.lastError ?? 'failed';
    const prefix = `service ${this.name}: `;
    return new ServiceError(this.#failureCode, this.name, message.startsWith(prefix) ? message : prefix + message);
  }

  /**
   * First start. Resolves when the forward is listening; rejects (and leaves nothing running) when
   * it cannot start. A transient failure (a reset during the handshake, a server shedding excess
   * connections) is retried under the restart policy, as a restart would be; a permanent one (a wrong
   * host, a busy port, a refused login) fails at once, since it will not fix itself.
   */
  async start(): Promise<void> {
    if (this.state !== 'stopped' && this.state !== 'failed') return;
    this.#stopping = false;
    this.#everReady = false;
    this.attempts = 0;
    this.lastError = null;
    // Starting again is the user's decision: a credential refused earlier may have been fixed since.
    this.health.forgetRejection();
    if (this.relayed) {
      if (this.service.start !== 'lazy') this.#setState('starting');
      try {
        // Tracked: a stop meanwhile waits for the front to be open, then closes it.
        await this.#tracked(this.#openFront());
      } catch (error) {
        this.#fail((error as Error).message, error instanceof LocalPortError ? error.code : 'START_FAILED');
        throw error;
      }
      if (this.#stopping) return;
      if (this.service.start === 'lazy') {
        // The front listens; the first connection starts the tunnel.
        this.#setState('idle');
        return;
      }
    }
    await this.#launchUntilSettled();
  }

  /**
   * Starts the forward and waits until it is ready; a transient failure is retried under the restart
   * policy (resolving once ready, or stopped); a permanent one fails the service and rejects.
   */
  async #launchUntilSettled(onDemand = false): Promise<void> {
    this.#setState('starting');
    try {
      await this.#tracked(this.#launchOnce());
    } catch (error) {
      if (error instanceof Aborted) return;
      const message = (error as Error).message;
      // A setup mistake fails a first start at once; a service that ran before (a lazy one waking after
      // an idle stop) is retried like a restart: the network or the server may come back.
      const failure = failureClass(error);
      this.failedAttempts += 1;
      if ((failure === 'transient' || (failure === 'permanent' && this.#everReady)) && !this.#stopping) {
        this.#log.line('localport', `start attempt failed: ${message}`);
        this.#notify('startFailed', () => this.hub.hooks.startFailed.promise(this.service, error as Error));
        this.#setState('restarting', message);
        await this.#scheduleRestart(message);
        await this.whenSettled();
        if (this.state === 'failed') throw this.#failedError();
        return; // ready (the restart made it so) or stopped
      }
      if (onDemand && failure === 'permanent' && !this.#stopping) {
        // A lazy service's port stays: the connections that came are told at once, and the next one
        // tries again (a refused login is `rejected`, below: never tried again by itself).
        this.#notify('startFailed', () => this.hub.hooks.startFailed.promise(this.service, error as Error));
        this.#front?.dropHeld(message);
        this.#setState('idle', message);
        return;
      }
      this.#fail(message, error instanceof LocalPortError ? error.code : 'START_FAILED');
      this.#notify('startFailed', () => this.hub.hooks.startFailed.promise(this.service, error as Error));
      throw error;
    }
    // A stop that came as the forward became ready wins: it kills what was started.
    if (this.#stopping) return;
    this.#becameReady();
  }

  /** Resolves once the service is ready, failed or stopped. */
  whenSettled(): Promise<void> {
    if (this.state === 'ready' || this.state === 'failed' || this.state === 'stopped') return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #tracked(p: Promise<void>): Promise<void> {
    this.#launching = p;
    return p.finally(() => {
      if (this.#launching === p) this.#launching = undefined;
    });
  }

  async stop(): Promise<void> {
    this.#stopping = true;
    this.health.stop();
    clearTimeout(this.#restartTimer);
    this.nextRetryAt = null;
    clearTimeout(this.#stableTimer);
    this.#launch?.abort();
    // An attempt in flight kills what it spawned when it sees the abort; let it finish first.
    await this.#launching?.catch(() => {});
    this.health.stop();
    // The port goes first: no new connection is held for a tunnel that is going away.
    await this.#closeFront();
    await this.#idling;
    if (this.state === 'stopped') return;
    if ((this.state === 'failed' || this.state === 'idle') && !this.#forward) {
      this.#setState('stopped');
      await this.#observersDone();
      return;
    }
    this.#setState('stopping');
    await this.#observe('beforeStop', () => this.hub.hooks.beforeStop.promise(this.service));
    // A hot reload handed the port to the new definition: what the old tunnel serves may finish first.
    await this.#drain;
    // A stop is final: the last service on a shared connection takes it down now (see SharedForward.stop).
    const forward = this.#forward;
    await (forward instanceof SharedForward ? forward.stop(true) : forward?.stop());
    if (this.#endpoint) removeSocket(this.#endpoint);
    this.#setState('stopped');
    await this.#observe('afterStop', () => this.hub.hooks.afterStop.promise(this.service));
    await this.#observersDone();
    await this.#log.close();
  }

  /** Kills the forward at once (a process group: SIGKILL); for process exit, where nothing can be awaited. */
  killNow(): void {
    this.#forward?.killNow();
    if (this.#endpoint) removeSocket(this.#endpoint);
  }

  /**
   * Fires an observer hook without waiting for it: a slow observer (a webhook) must not hold up a
   * start, a restart or the failure a caller is waiting for. What it throws is logged as #observe says.
   */
  #notify(hook: string, fire: () => Promise<unknown>): void {
    const running: Promise<void> = this.#observe(hook, fire).finally(() => this.#observers.delete(running));
    this.#observers.add(running);
  }

  /**
   * Observers still running get up to the stop grace to finish: a webhook that reports a failed start
   * is not cut off by `run` exiting right after, and a hung one does not hang the stop.
   */
  async #observersDone(): Promise<void> {
    if (this.#observers.size === 0) return;
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([Promise.all(this.#observers), new Promise((r) => (timer = setTimeout(r, STOP_GRACE_MS)))]);
    clearTimeout(timer);
  }

  /** Runs an observer hook: a failing observer is logged, it does not change the service's fate. */
  async #observe(hook: string, fire: () => Promise<unknown>): Promise<void> {
    try {
      await fire();
    } catch (error) {
      const message = error instanceof LocalPortError ? error.message : `plugin failed in ${hook}: ${(error as Error).message}`;
      this.#logger.error({ service: this.name, hook, err: message }, message);
    }
  }

  #becameReady(): void {
    this.#everReady = true;
    this.#setState('ready');
    const forward = this.#forward!;
    // Held connections are served now, in the order they came.
    if (this.#connector) this.#front?.ready(this.#connector);
    this.#notify('afterStart', () => this.hub.hooks.afterStart.promise(this.service, { pid: forward.pid, localAddress: this.localAddress, localPort: this.service.localPort }));
    this.health.start();
    forward.onExit((info) => this.#exitedWhileReady(forward, info));
  }

  /** The forward ended after it was ready: on purpose (a stop, a health verdict), or it crashed. */
  #exitedWhileReady(forward: Forward, info: ExitInfo): void {
    if (this.#forward !== forward) return;
    this.#forward = undefined;
    // From now on new connections wait for the next tunnel.
    this.#front?.notReady();
    this.#connector = undefined;
    if (this.#stopping) return;
    const explained = this.#describeExit(info, undefined);
    const failure = this.#failReason ?? (explained.failure === 'rejected' ? { reason: explained.message, code: 'AUTH_REJECTED' } : undefined);
    const reason = this.#killReason ?? explained.message;
    this.#killReason = undefined;
    this.#failReason = undefined;
    if (failure) {
      clearTimeout(this.#stableTimer);
      this.health.stop();
      this.#logger.error({ service: this.name, reason: failure.reason }, `service ${this.name} failed, not restarting: ${failure.reason}`);
      this.#fail(failure.reason, failure.code);
      return;
    }
    this.#crashed(reason);
  }

  /** What the health monitor concluded. */
  #onHealth(verdict: HealthVerdict): void {
    const forward = this.#forward;
    switch (verdict.kind) {
      case 'healthy':
        // Once it stays so for `resetAfter` seconds, the restart attempts are forgiven.
        clearTimeout(this.#stableTimer);
        this.#stableTimer = setTimeout(() => {
          this.attempts = 0;
        }, this.service.restartPolicy.resetAfter * 1000);
        this.#stableTimer.unref();
        return;
      case 'unhealthy':
        clearTimeout(this.#stableTimer);
        return;
      case 'restart':
        // Kill the forward; its exit hands over to the restart policy.
        if (this.state !== 'ready' || !forward || this.#stopping) return;
        this.#killReason = verdict.reason;
        this.#front?.notReady();
        void forward.stop();
        return;
      case 'fail':
        // Credentials refused (or a plugin said so): no restart can fix that, and every new attempt
        // counts against the account. Kill the forward and fail the service, naming why.
        if (this.state !== 'ready' || !forward || this.#stopping) return;
        this.health.stop();
        this.#failReason = { reason: verdict.reason, code: verdict.code };
        this.#front?.notReady();
        void forward.stop();
        return;
    }
  }

  /** Resolves when the service is healthy (its check passed since its last start); rejects if it fails first. */
  whenHealthy(): Promise<void> {
    if (this.state === 'failed') return Promise.reject(this.#failedError());
    return new Promise((resolve, reject) => {
      this.#failureWaiters.push(reject);
      void this.health.whenHealthy().then(() => {
        this.#failureWaiters = this.#failureWaiters.filter((w) => w !== reject);
        resolve();
      });
    });
  }

  #describeExit(info: ExitInfo, spec: ForwardSpec | undefined): Required<ExitExplanation> {
    const explain = (i: ExitInfo) => spec?.explainExit?.(i) ?? this.#currentSpec?.explainExit?.(i);
    return explainExit(explain, info, `${this.#technology.type} process`, (error) => this.#internalError(`explainExit of technology ${this.#technology.type}`, error));
  }


  /** The tunnel went away while ready: restart it under the policy. */
  #crashed(reason: string): void {
    clearTimeout(this.#stableTimer);
    this.health.stop();
    this.#logger.warn({ service: this.name, reason }, `service ${this.name} lost its tunnel: ${reason}`);
    this.#setState('restarting', reason);
    this.#scheduleRestart(reason).catch((error) => this.#internalError('scheduling a restart', error));
  }

  async #scheduleRestart(reason: string): Promise<void> {
    this.attempts += 1;
    const policy = this.service.restartPolicy;
    if (!mayRestart(policy, this.attempts)) {
      const why = policy.enabled ? `gave up after ${policy.maxAttempts} restart attempts` : 'restart policy is disabled';
      this.#fail(`${reason} (${why})`);
      return;
    }
    const delay = backoffDelay(policy, this.attempts);
    let veto: false | void = undefined;
    try {
      veto = await this.hub.hooks.beforeRestart.promise(this.service, { attempt: this.attempts, delay, reason });
    } catch (error) {
      this.#logger.error({ service: this.name, err: (error as Error).message }, (error as Error).message);
    }
    if (this.#stopping) return;
    if (veto === false) {
      this.#fail(`${reason} (restart vetoed by a plugin)`);
      return;
    }
    this.#logger.info({ service: this.name, attempt: this.attempts, delay }, `restarting ${this.name} in ${delay.toFixed(2)} s (attempt ${this.attempts})`);
    this.nextRetryAt = new Date(Date.now() + delay * 1000);
    this.#restartTimer = setTimeout(() => {
      this.nextRetryAt = null;
      void this.#restartNow().catch((error) => this.#internalError('restarting', error));
    }, delay * 1000);
  }

  async #restartNow(): Promise<void> {
    if (this.#stopping) return;
    try {
      await this.#tracked(this.#launchOnce());
    } catch (error) {
      if (error instanceof Aborted || this.#stopping) return;
      const message = (error as Error).message;
      this.lastError = message;
      this.lastErrorAt = new Date();
      this.failedAttempts += 1;
      this.#log.line('localport', `restart attempt ${this.attempts} failed: ${message}`);
      this.#notify('startFailed', () => this.hub.hooks.startFailed.promise(this.service, error as Error));
      // A refused login is never retried; a setup mistake is retried only for a forward that once ran
      // (the network or the server may come back), not while the service is still starting.
      const failure = failureClass(error);
      if (failure === 'rejected' || (failure === 'permanent' && !this.#everReady)) {
        this.#fail(message, error instanceof LocalPortError ? error.code : 'START_FAILED');
        return;
      }
      await this.#scheduleRestart(message);
      return;
    }
    if (this.#stopping) return;
    // A first start that needed retries is not a restart of a running service.
    if (this.#everReady) this.restarts += 1;
    this.#becameReady();
  }

  /**
   * The moment the tunnel's process dies, before its exit is fully handled (its process group, its
   * output): new connections wait for the next one, and the front knows a FIN from it is a cut. (A
   * wrapper whose forked forwarder still serves has not died: that is checked with one connect.)
   */
  #watchDeath(forward: Forward, endpoint: Endpoint): void {
    forward.onDying(() => {
      if (this.#forward !== forward || this.state !== 'ready') return;
      void canConnect(endpoint, 200).then((serving) => {
        if (serving || this.#forward !== forward || this.state !== 'ready') return;
        this.#front?.notReady();
        this.#connector = undefined;
      });
    });
  }

  /**
   * The shared connection this start rides on, if the service can share one: its technology shares
   * (Technology.shared), the service did not opt out, the relay is on and the forward listens on a
   * Unix socket (the connection is controlled through one, in the same private directory).
   */
  #sharedConnection(endpoint: Endpoint): SharedConnection | undefined {
    const group = 'path' in endpoint ? this.connectionGroup() : undefined;
    if (!group) return undefined;
    return sharedConnections(this.hub).get({
      technology: this.#technology.type,
      key: group.key,
      label: group.label,
      spec: this.#technology.shared!,
      logger: this.#logger,
      redactor: this.hub.redactor,
      internalError: (where, error) => this.#internalError(where, error),
    });
  }

  /** The shared connection the service rides on (its key and label), or undefined; a plugin's bug there means none. */
  connectionGroup(): { key: string; label: string } | undefined {
    try {
      return connectionGroup(this.#technology, this.service);
    } catch (error) {
      this.#internalError(`the shared connection of technology ${this.#technology.type}`, error);
      return undefined;
    }
  }

  /** Brings the service up on a shared connection: the connection first (started or waited for), then its forward. */
  async #launchShared(connection: SharedConnection, endpoint: { path: string }, signal: AbortSignal): Promise<void> {
    const s = this.service;
    const forward = new SharedForward(connection, s, { listen: endpoint, log: this.#log, logger: this.#logger, internalError: (where, error) => this.#internalError(where, error) });
    const shared = connection.opts.spec;
    if (this.#connection !== connection) this.#connection?.leave(this);
    connection.join(this);
    this.#connection = connection;
    this.#currentSpec = {
      explainExit: (info) => connection.explainExit(info),
      ...(shared.explainConnectionFailure ? { explainConnectionFailure: (lines: readonly string[]) => shared.explainConnectionFailure?.(s, lines) } : {}),
    };
    this.#endpoint = endpoint;
    this.#forward = forward;
    try {
      await forward.open(signal);
    } catch (error) {
      this.#forward = undefined;
      await forward.stop();
      if (signal.aborted) throw new Aborted();
      // The start it waited for was abandoned by everyone else (they stopped): it tries again, as after a reset.
      if (error instanceof ConnectionAborted) throw new ServiceFailure('START_FAILED', s.name, `service ${s.name}: the shared connection ${connection.id} was stopped while it started`, 'transient');
      if (error instanceof ConnectionFailure) throw new ServiceFailure(error.failure === 'rejected' ? 'AUTH_REJECTED' : 'START_FAILED', s.name, `service ${s.name}: ${error.message}`, error.failure);
      throw error;
    }
    this.#watchDeath(forward, endpoint);
    this.#connector = (sig, opts) => connectTo(endpoint, sig, undefined, opts?.reader);
  }

  /** Spawns the forward and waits until it listens. Throws with a clear message otherwise. */
  async #launchOnce(): Promise<void> {
    const s = this.service;
    const abort = new AbortController();
    this.#launch = abort;
    try {
      await this.hub.hooks.beforeStart.promise(s);
    } catch (error) {
      throw error instanceof PluginError ? new ServiceError('BEFORE_START_FAILED', s.name, `service ${s.name}: ${error.message}`, undefined, error) : error;
    }
    if (abort.signal.aborted) throw new Aborted();

    let endpoint: Endpoint;
    if (this.relayed) {
      endpoint = await internalEndpoint(this.#technology.endpoint ?? 'tcp');
    } else {
      // Without the relay the tunnel binds the user's port itself: say clearly when it cannot.
      endpoint = { host: this.#hosts()[0], port: s.localPort };
      const cannotBind = await bindProblem(s.name, s.localPort, this.localAddress);
      if (abort.signal.aborted) throw new Aborted();
      if (cannotBind) throw cannotBind;
    }
    if (abort.signal.aborted) throw new Aborted();

    const connection = this.#sharedConnection(endpoint);
    if (connection) return this.#launchShared(connection, endpoint as { path: string }, abort.signal);
    this.#connection?.leave(this);
    this.#connection = undefined;

    let stream: StreamForward | undefined;
    const spec = await this.#technology.createForward(s, {
      logger: this.#logger,
      listen: endpoint,
      signal: abort.signal,
      lost: (reason: string, failure?: FailureClass) => stream?.lost(reason, failure),
    });
    // A stop may have come while we awaited: never spawn after it.
    if (abort.signal.aborted) throw new Aborted();
    if (spec && typeof (spec as { connect?: unknown }).connect === 'function') {
      if (!this.relayed) throw new ServiceError('START_FAILED', s.name, `service ${s.name}: technology ${this.#technology.type} runs inside LocalPort and needs LocalPort's listener; remove relay: false`);
      stream = new StreamForward(spec as import('../types.js').StreamForwardSpec, {
        technology: this.#technology.type,
        plugin: this.hub.technologies.pluginOf(this.#technology.type) ?? this.#technology.type,
        internalError: (where, error) => this.#internalError(where, error),
        isOwnAddress,
      });
      const forward = stream;
      this.#currentSpec = { explainExit: (info) => forward.explain(info) };
      this.#endpoint = endpoint;
      await forward.start();
      this.#forward = forward;
      const outcome = await forward.whenReady(abort.signal, START_TIMEOUT_MS);
      if ('ready' in outcome) {
        this.#connector = (signal, opts) => forward.connect(signal, opts);
        return;
      }
      this.#forward = undefined;
      await forward.stop();
      if ('aborted' in outcome) throw new Aborted();
      if ('failed' in outcome) throw new ServiceFailure(outcome.failed.failure === 'rejected' ? 'AUTH_REJECTED' : 'START_FAILED', s.name, `service ${s.name}: ${outcome.failed.message}`, outcome.failed.failure);
      if ('exited' in outcome) {
        const { message, failure } = this.#describeExit(outcome.exited, undefined);
        throw new ServiceFailure(failure === 'rejected' ? 'AUTH_REJECTED' : 'START_FAILED', s.name, `service ${s.name}: ${message}`, failure);
      }
      throw new ServiceFailure('START_TIMEOUT', s.name, `service ${s.name}: the ${this.#technology.type} forward did not become ready within ${START_TIMEOUT_MS / 1000} s`, 'transient');
    }
    const processSpec = spec as ForwardSpec;
    if (!processSpec || typeof processSpec.command !== 'string' || !Array.isArray(processSpec.args) || !processSpec.ready || typeof processSpec.ready !== 'object') {
      const plugin = this.hub.technologies.pluginOf(this.#technology.type) ?? this.#technology.type;
      throw new PluginError(
        plugin,
        `technology '${this.#technology.type}' createForward()`,
        new LocalPortError('PLUGIN_CONTRACT', 'returned neither a process to spawn ({ command, args, ready }) nor an in-process forward ({ connect })'),
      );
    }
    this.#currentSpec = processSpec;
    this.#endpoint = endpoint;
    const forward = new ForwardProcess(processSpec, {
      log: this.#log,
      logger: this.#logger,
      service: this.name,
      technology: this.#technology.type,
      internalError: (where, error) => this.#internalError(where, error),
      // The service a tunnel serves and the port its users connect to (with the relay, it listens elsewhere).
      env: { LOCALPORT_SERVICE: s.name, LOCALPORT_SERVICE_PORT: String(s.localPort) },
    });
    await forward.start();
    this.#forward = forward;
    forward.onExit(() => removeSocket(endpoint));
    this.#watchDeath(forward, endpoint);

    const outcome = await whenReady(forward, { rule: processSpec.ready, endpoint, signal: abort.signal });
    if ('ready' in outcome) {
      this.#connector = (signal, opts) => connectTo(endpoint, signal, undefined, opts?.reader);
      return;
    }
    // Not ready: make sure nothing is left behind before reporting.
    this.#forward = undefined;
    if ('exited' in outcome) {
      if (this.relayed && !('path' in endpoint) && /address already in use|EADDRINUSE|cannot listen to port|unable to listen on|could not request local forwarding/i.test(outcome.exited.output)) {
        // A technology written before the relay binds the service's local port itself, which the front holds.
        const local = String(s.localPort);
        if (processSpec.args.some((a) => a.includes(local)) && !processSpec.args.some((a) => a.includes(String(endpoint.port)))) {
          throw new ServiceError(
            'PLUGIN_CONTRACT',
            s.name,
            `service ${s.name}: the ${this.#technology.type} process tried to listen on local port ${local} itself, which LocalPort's own listener holds${this.#technology.listenHint ? '' : "; the technology must listen where createForward's context says (ctx.listen)"}`,
            this.#technology.listenHint ?? `Update the plugin that registers '${this.#technology.type}', or set relay: false on the service (or relay: false on the technology) to let it bind the port itself.`,
          );
        }
        // Another program took the internal port between our pick and the tunnel's bind: a new port will do.
        throw new ServiceFailure('START_FAILED', s.name, `service ${s.name}: the internal endpoint ${describeEndpoint(endpoint)} was taken before the tunnel could listen on it; trying another`, 'transient');
      }
      const { message, failure } = this.#describeExit(outcome.exited, processSpec);
      throw new ServiceFailure(failure === 'rejected' ? 'AUTH_REJECTED' : 'START_FAILED', s.name, `service ${s.name}: ${message}`, failure);
    }
    await forward.stop();
    if ('aborted' in outcome) throw new Aborted();
    const last = forward.tail.filter(Boolean).pop();
    throw new ServiceFailure(
      'START_TIMEOUT',
      s.name,
      `service ${s.name}: the ${this.#technology.type} forward did not become ready within ${START_TIMEOUT_MS / 1000} s${last ? ` (last output: ${last})` : ''}${this.relayed ? `; it must listen on ${describeEndpoint(endpoint)}, where LocalPort relays to` : ''}`,
      'transient',
    );
  }
}
