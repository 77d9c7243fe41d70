import { bindAddressOf, reachableAddress } from '../address.js';
import { failureClass, LocalPortError, PluginError, ServiceError, ServiceFailure, type ErrorCode } from '../errors.js';
import type { LocalPort } from '../LocalPort.js';
import { ServiceLog } from '../log.js';
import { serviceLogFile } from '../dirs.js';
import type { ExitExplanation, ExitInfo, ForwardSpec, Logger, ServiceDefinition, ServiceState, ServiceStatus, Technology } from '../types.js';
import { backoffDelay, mayRestart } from './backoff.js';
import { bindError, canConnect, portHolder, waitForPort } from './ports.js';
import { groupAlive, nextTunnelId, OWNER_ENV, ownerMarker, processesMarked, trackChild, TUNNEL_ENV, untrackChild, withParentDeathSignal } from './children.js';
import { HealthMonitor, type HealthHost } from './HealthMonitor.js';
import { MAX_LINE_BYTES, OutputBudget, readLines } from './lines.js';

/** How long a forward may take to become ready before the attempt counts as failed. */
export const START_TIMEOUT_MS = 30_000;
/** How long a forward gets between SIGTERM and SIGKILL. */
export const STOP_GRACE_MS = 2_000;
const TAIL_LINES = 20;

interface Running {
  pid: number;
  command: string;
  exited: Promise<ExitInfo>;
  kill(signal: NodeJS.Signals): void;
  tail: string[];
}

class Aborted extends Error {}

/**
 * SIGTERM, then SIGKILL once the grace is over, until `alive()` says nothing is left (or a second
 * after the SIGKILL): for what a tunnel left behind, which no exit event announces.
 */
async function terminate(signal: (sig: NodeJS.Signals) => void, alive: () => boolean): Promise<void> {
  signal('SIGTERM');
  const killAt = Date.now() + STOP_GRACE_MS;
  while (alive() && Date.now() < killAt + 1000) {
    if (Date.now() >= killAt) signal('SIGKILL');
    await new Promise((r) => setTimeout(r, 20));
  }
}


/**
 * One service's state machine. It owns the service's tunnel process: starts it, notices the moment
 * it exits, restarts it under the restart policy, and stops it.
 */
export class ServiceSupervisor implements HealthHost {
  state: ServiceState = 'stopped';
  restarts = 0;
  /** Restart attempts since the service was last stable. */
  attempts = 0;
  lastError: string | null = null;
  since: Date | null = null;

  #running: Running | undefined;
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
  }

  get name(): string {
    return this.service.name;
  }

  get pid(): number | null {
    return this.#running?.pid ?? null;
  }

  get localAddress(): string {
    // A forward bound to every interface is reached on loopback.
    return reachableAddress(bindAddressOf(this.#technology, this.service.connection));
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
      remotePort: s.remotePort,
      target: this.#target(),
      tags: s.tags,
      restarts: this.restarts,
      since: this.since?.toISOString() ?? null,
      lastError: this.lastError,
      health: this.health.status(),
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
    if (error !== undefined) this.lastError = error;
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

  /** The service cannot run: settle in `failed`, naming why. */
  #fail(message: string, code: ErrorCode = 'START_FAILED'): void {
    this.#failureCode = code;
    this.#setState('failed', message);
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
    this.#setState('starting');
    try {
      await this.#tracked(this.#launchOnce());
    } catch (error) {
      if (error instanceof Aborted) return;
      const message = (error as Error).message;
      if (failureClass(error) === 'transient' && !this.#stopping) {
        this.#log.line('localport', `start attempt failed: ${message}`);
        await this.#observe('startFailed', () => this.hub.hooks.startFailed.promise(this.service, error as Error));
        if (this.#stopping) return;
        this.#setState('restarting', message);
        await this.#scheduleRestart(message);
        await this.whenSettled();
        if (this.state === 'failed') throw this.#failedError();
        return; // ready (the restart made it so) or stopped
      }
      this.#fail(message, error instanceof LocalPortError ? error.code : 'START_FAILED');
      await this.#observe('startFailed', () => this.hub.hooks.startFailed.promise(this.service, error as Error));
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
    clearTimeout(this.#stableTimer);
    this.#launch?.abort();
    // An attempt in flight kills what it spawned when it sees the abort; let it finish first.
    await this.#launching?.catch(() => {});
    this.health.stop();
    if (this.state === 'stopped') return;
    if (this.state === 'failed' && !this.#running) {
      this.#setState('stopped');
      return;
    }
    this.#setState('stopping');
    await this.#observe('beforeStop', () => this.hub.hooks.beforeStop.promise(this.service));
    await this.#kill();
    this.#setState('stopped');
    await this.#observe('afterStop', () => this.hub.hooks.afterStop.promise(this.service));
    await this.#log.close();
  }

  /** SIGKILLs the process group at once; for process exit, where nothing can be awaited. */
  killNow(): void {
    this.#running?.kill('SIGKILL');
  }

  async #kill(): Promise<void> {
    if (this.#running) await this.#killRunning(this.#running);
  }

  /** Runs observer hooks: a failing observer is logged, it does not change the service's fate. */
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
    const running = this.#running!;
    void this.#observe('afterStart', () =>
      this.hub.hooks.afterStart.promise(this.service, { pid: running.pid, localAddress: this.localAddress, localPort: this.service.localPort }),
    );
    this.health.start();
    running.exited
      .then((info) => {
        if (this.#running !== running) return;
        this.#running = undefined;
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
      })
      .catch((error) => this.#internalError("handling the tunnel's exit", error));
  }

  /** Healthy: once it stays so for `resetAfter` seconds, the restart attempts are forgiven. */
  healthy(): void {
    clearTimeout(this.#stableTimer);
    this.#stableTimer = setTimeout(() => {
      this.attempts = 0;
    }, this.service.restartPolicy.resetAfter * 1000);
    this.#stableTimer.unref();
  }

  unhealthy(): void {
    clearTimeout(this.#stableTimer);
  }

  /** The health monitor gave up on this tunnel: kill it, and let the restart policy take over. */
  restartForHealth(reason: string): void {
    const running = this.#running;
    if (this.state !== 'ready' || !running || this.#stopping) return;
    this.#killReason = reason;
    void this.#killRunning(running);
  }

  /**
   * The check's credentials were refused (or a plugin said so): no restart can fix that, and every new
   * attempt counts against the account. Kill the tunnel and fail the service, naming why.
   */
  failForHealth(reason: string, code: ErrorCode): void {
    const running = this.#running;
    if (this.state !== 'ready' || !running || this.#stopping) return;
    this.health.stop();
    this.#failReason = { reason, code };
    void this.#killRunning(running);
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
    let explained: string | ExitExplanation | undefined;
    try {
      explained = spec?.explainExit?.(info) ?? this.#currentSpec?.explainExit?.(info);
    } catch (error) {
      this.#internalError(`explainExit of technology ${this.#technology.type}`, error);
    }
    // A plain string is the original contract: a failure with no class, treated as permanent.
    if (typeof explained === 'string' && explained) return { message: explained, failure: 'permanent' };
    if (explained && typeof explained === 'object' && explained.message) return { message: explained.message, failure: explained.failure ?? 'permanent' };
    const how = info.signal ? `was killed by ${info.signal}` : `exited with code ${info.exitCode}`;
    const last = info.stderr?.trim().split('\n').filter(Boolean).pop();
    return { message: `${this.#technology.type} process ${how}${last ? `: ${last}` : ''}`, failure: 'permanent' };
  }

  #currentSpec: ForwardSpec | undefined;

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
    this.#restartTimer = setTimeout(() => void this.#restartNow().catch((error) => this.#internalError('restarting', error)), delay * 1000);
  }

  async #restartNow(): Promise<void> {
    if (this.#stopping) return;
    try {
      await this.#tracked(this.#launchOnce());
    } catch (error) {
      if (error instanceof Aborted || this.#stopping) return;
      const message = (error as Error).message;
      this.lastError = message;
      this.#log.line('localport', `restart attempt ${this.attempts} failed: ${message}`);
      await this.#observe('startFailed', () => this.hub.hooks.startFailed.promise(this.service, error as Error));
      if (this.#stopping) return;
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

    const address = this.localAddress;
    const bind = await bindError(s.localPort, address);
    if (abort.signal.aborted) throw new Aborted();
    // Only a port that is taken is "in use": an address that is not this machine's, or a name that
    // does not resolve, is named as such (validation catches both; an interface can vanish since).
    if (bind && bind.code !== 'EADDRINUSE') {
      const why =
        bind.code === 'EADDRNOTAVAIL' ? `${address} is not an address of this machine` : bind.code === 'ENOTFOUND' || bind.code === 'EAI_AGAIN' ? `bind address '${address}' does not resolve (${bind.code})` : bind.code === 'EACCES' ? `port ${s.localPort} needs privileges on ${address} (EACCES)` : `${bind.code ?? bind.message}`;
      const hint = bind.code === 'EACCES' ? 'Use a local port above 1023.' : 'Use 127.0.0.1, or an address of this machine, as the bind address.';
      throw new ServiceError('BIND_FAILED', s.name, `service ${s.name}: cannot listen on ${address}:${s.localPort}: ${why}`, hint);
    }
    if (bind) {
      const holder = portHolder(s.localPort);
      throw new ServiceError(
        'PORT_IN_USE',
        s.name,
        `service ${s.name}: local port ${s.localPort} on ${address} is already in use${holder ? ` by ${holder}` : ''}`,
        'Stop the process holding the port, or give the service another local_port.',
      );
    }

    const spec = await this.#technology.createForward(s, { logger: this.#logger });
    // A stop may have come while we awaited: never spawn after it.
    if (abort.signal.aborted) throw new Aborted();
    this.#currentSpec = spec;
    const running = await this.#spawn(spec);
    this.#running = running;

    let timer: NodeJS.Timeout | undefined;
    const ready = this.#waitReady(spec, running, abort.signal);
    const exited = running.exited.then((info) => ({ exited: info }));
    const timeout = new Promise<{ timeout: true }>((r) => (timer = setTimeout(() => r({ timeout: true }), START_TIMEOUT_MS)));
    const aborted = new Promise<{ aborted: true }>((r) => {
      if (abort.signal.aborted) r({ aborted: true });
      else abort.signal.addEventListener('abort', () => r({ aborted: true }), { once: true });
    });
    const outcome = await Promise.race([ready.then(() => ({ ready: true as const })), exited, timeout, aborted]);
    clearTimeout(timer);

    if ('ready' in outcome) return;
    // Not ready: make sure nothing is left behind before reporting.
    this.#running = undefined;
    if ('exited' in outcome) {
      const { message, failure } = this.#describeExit(outcome.exited, spec);
      throw new ServiceFailure(failure === 'rejected' ? 'AUTH_REJECTED' : 'START_FAILED', s.name, `service ${s.name}: ${message}`, failure);
    }
    await this.#killRunning(running);
    if ('aborted' in outcome) throw new Aborted();
    const last = running.tail.filter(Boolean).pop();
    throw new ServiceFailure(
      'START_TIMEOUT',
      s.name,
      `service ${s.name}: the ${this.#technology.type} forward did not become ready within ${START_TIMEOUT_MS / 1000} s${last ? ` (last output: ${last})` : ''}`,
      'transient',
    );
  }

  async #killRunning(running: Running): Promise<void> {
    running.kill('SIGTERM');
    const t = setTimeout(() => running.kill('SIGKILL'), STOP_GRACE_MS);
    await running.exited;
    clearTimeout(t);
  }

  async #waitReady(spec: ForwardSpec, running: Running, signal: AbortSignal): Promise<void> {
    const { localPort } = this.service;
    const address = this.localAddress;
    if ('output' in spec.ready) {
      const pattern = spec.ready.output;
      await new Promise<void>((resolve) => {
        const internal = running as RunningInternal;
        // Each new line is tested once, as it arrives (the tail holds the lines seen before).
        let seen = false;
        const check = (line: string) => {
          if (seen || !pattern.test(line)) return;
          seen = true;
          internal.onLine = undefined;
          resolve();
        };
        internal.onLine = check;
        running.tail.forEach(check);
      });
      // The process says it listens; one connect proves it (and catches a forward bound elsewhere).
      if (await canConnect(address, localPort, 1000)) return;
      if (await waitForPort(address, localPort, 2000, signal)) return;
      await new Promise(() => {}); // never ready; the start timeout or the process exit decides
    }
    while (!signal.aborted) {
      if (await waitForPort(address, localPort, START_TIMEOUT_MS, signal)) return;
    }
  }

  /**
   * Waits until no process of the tunnel's group is left. What the leader left behind gets SIGTERM,
   * then SIGKILL after the stop grace; a stop already in progress has sent them on its own schedule.
   */
  /**
   * A descendant that left the tunnel's process group (a wrapper that runs its forwarder under `setsid`)
   * is found by the tunnel's marker and stopped like the group: SIGTERM, SIGKILL after the grace.
   */
  async #escapedExited(tunnelId: string): Promise<void> {
    let escaped = processesMarked(TUNNEL_ENV, tunnelId);
    if (escaped.length === 0) return;
    this.#log.line('localport', `stopping ${escaped.length} process${escaped.length === 1 ? '' : 'es'} the ${this.#technology.type} process started outside its process group`);
    await terminate(
      (sig) =>
        escaped.forEach((pid) => {
          try {
            process.kill(pid, sig);
          } catch {
            /* gone */
          }
        }),
      () => (escaped = processesMarked(TUNNEL_ENV, tunnelId)).length > 0,
    );
  }

  async #groupExited(running: RunningInternal): Promise<void> {
    if (process.platform === 'win32' || running.pid <= 0 || !groupAlive(running.pid)) return;
    this.#log.line('localport', `the ${this.#technology.type} process exited; stopping what it left in its process group`);
    await terminate(running.kill, () => groupAlive(running.pid));
  }

  async #spawn(spec: ForwardSpec): Promise<Running> {
    const { execa } = await import('execa');
    const tail: string[] = [];
    const errTail: string[] = [];
    this.#log.line('localport', `spawn ${[spec.command, ...spec.args].join(' ')}`);
    this.#logger.debug({ service: this.name, command: spec.command, args: spec.args }, 'spawn');
    // Detached: a new process group, so a terminal's Ctrl-C reaches LocalPort, which then stops the
    // tunnel in order, instead of killing the tunnel behind the supervisor's back.
    const wrapped = withParentDeathSignal(spec.command, spec.args);
    // Marks this one tunnel's descendants, even those that leave its process group.
    const tunnelId = nextTunnelId();
    const child = execa(wrapped.command, wrapped.args, {
      // The owner marker is inherited by everything the tunnel forks: how a leftover is proven ours.
      env: { ...spec.env, [OWNER_ENV]: ownerMarker, [TUNNEL_ENV]: tunnelId },
      extendEnv: true,
      detached: process.platform !== 'win32',
      stdin: 'ignore',
      stdout: 'pipe',
      stderr: 'pipe',
      buffer: false,
      reject: false,
      cleanup: false,
    });
    const running: RunningInternal = {
      pid: child.pid ?? -1,
      command: spec.command,
      tail,
      onLine: undefined,
      // The whole process group: a wrapper's forked forwarder too, even after the wrapper has exited.
      kill: (signal) => {
        if (running.groupGone) return;
        try {
          if (process.platform !== 'win32' && running.pid > 0) process.kill(-running.pid, signal);
          else if (!running.done) child.kill(signal);
        } catch {
          try {
            if (!running.done) child.kill(signal);
          } catch {
            /* already gone */
          }
        }
      },
      groupGone: false,
      done: false,
      exited: undefined as unknown as Promise<ExitInfo>,
    };
    // Whatever the child prints costs bounded memory (lines are cut at MAX_LINE_BYTES) and bounded
    // time (OutputBudget, shared by stdout and stderr).
    const budget = new OutputBudget();
    const logOutput = (stream: 'stdout' | 'stderr' | 'localport', text: string) => {
      budget.spend(text.length);
      const dropped = budget.report();
      if (dropped) this.#log.line('localport', dropped);
      this.#log.line(stream, text);
    };
    let warnedCut = false;
    const onLine = (stream: 'stdout' | 'stderr', line: string, cut: boolean) => {
      const text = cut ? `${line} …` : line;
      tail.push(text);
      if (tail.length > TAIL_LINES) tail.shift();
      if (stream === 'stderr') {
        errTail.push(text);
        if (errTail.length > TAIL_LINES) errTail.shift();
      }
      logOutput(stream, text);
      if (cut && !warnedCut) {
        warnedCut = true;
        this.#logger.warn({ service: this.name, stream }, `service ${this.name} printed a ${stream} line longer than ${MAX_LINE_BYTES} bytes; long lines are cut (see its log)`);
      }
      running.onLine?.(text);
    };
    for (const stream of ['stdout', 'stderr'] as const) {
      readLines(
        child[stream],
        {
          line: (text, cut) => onLine(stream, text, cut),
          cutEnded: (bytes) => logOutput('localport', `… (${bytes} bytes cut from that ${stream} line: lines are kept up to ${MAX_LINE_BYTES} bytes)`),
        },
        (error) => this.#internalError(`reading ${stream}`, error),
        budget,
      );
    }
    // The leader's own exit, as the kernel reports it. execa settles only once stdout and stderr close
    // too, which a descendant that left the process group (`setsid`) may never let happen.
    const leaderExit = new Promise<{ exitCode: number | null; signal: NodeJS.Signals | null }>((resolve) => child.once('exit', (exitCode, signal) => resolve({ exitCode, signal })));
    const drained = child.then((result) => result);
    running.exited = (async () => {
      const first = await Promise.race([drained, leaderExit.then(() => undefined)]);
      running.done = true;
      // The tunnel has exited only once its whole process group has: a forwarder that a wrapper forked
      // may outlive the wrapper, holding the port the next attempt needs. So has what escaped the group.
      await this.#groupExited(running);
      await this.#escapedExited(tunnelId);
      running.groupGone = true;
      untrackChild(running);
      let result = first;
      if (!result) {
        // What is still in the pipes is read; then nothing of the tunnel holds them, or they are let go.
        const letGo = setTimeout(() => [child.stdout, child.stderr].forEach((s) => s?.destroy()), 1000);
        result = await drained;
        clearTimeout(letGo);
      }
      const leader = first ? undefined : await leaderExit;
      const info: ExitInfo = {
        exitCode: leader?.exitCode ?? result.exitCode,
        signal: leader?.signal ?? result.signal,
        output: tail.join('\n'),
        stderr: errTail.join('\n'),
      };
      // Not found: execa's ENOENT, or setpriv's exec failure (it exits 127).
      if ((result as { code?: string }).code === 'ENOENT' || (result.exitCode === 127 && /failed to execute .*No such file/.test(info.output))) {
        info.output = `${spec.command}: command not found`;
        info.exitCode = 127;
      }
      const dropped = budget.report(true);
      if (dropped) this.#log.line('localport', dropped);
      this.#log.line('localport', `exit ${info.signal ?? info.exitCode}`);
      return info;
    })();
    if (running.pid > 0) trackChild(running);
    return running;
  }
}

interface RunningInternal extends Running {
  onLine: ((line: string) => void) | undefined;
  /** The tunnel process itself has exited. */
  done: boolean;
  /** …and so has every process of its group. */
  groupGone: boolean;
}
