import type { Duplex } from 'node:stream';
import { LocalPortError, PluginError, type ErrorCode } from '../errors.js';
import type { LocalPort } from '../LocalPort.js';
import { printable } from '../printable.js';
import type { HealthCheck, HealthResult, HealthStatus, Logger, ServiceDefinition } from '../types.js';

export type HealthState = HealthStatus['state'];
export type { HealthStatus };

/** Until a service has been healthy once since its (re)start, it is checked at least this often. */
const STARTUP_PROBE_MS = 500;
/**
 * After a check's credentials were refused, the next check of that service waits at least this long,
 * whatever a plugin answered and across restarts: at most one attempt every 30 s (the bound is 3 a
 * minute), so an account with a lockout policy is not locked by LocalPort. Core's own answer, failing
 * the service, makes it one attempt in all.
 */
const AUTH_RECHECK_MS = 30_000;

/** What is checked: the service, reached through its tunnel (never through the front, which holds). */
export interface HealthTarget {
  readonly service: ServiceDefinition;
  /** Where a check reaches the upstream, and how to open one connection to it. */
  upstream(signal: AbortSignal): Promise<{ host: string; port: number; connect(): Promise<Duplex> }>;
  /** Collects the tunnel's output during one check; the result says why a failed check failed, if the output does. */
  watchOutput?(): (failed: boolean) => Promise<string | undefined>;
}

/**
 * What the monitor concluded about the service; its host subscribes with `onVerdict` and acts.
 * - `healthy`: the success threshold was reached (again);
 * - `unhealthy`: the failure threshold was crossed, or a check's credentials were rejected; a
 *   `restart`, a `fail` or nothing (a plugin answered `'ignore'`) follows once `healthFailed` answered;
 * - `restart`: restart the tunnel;
 * - `fail`: fail the service, no restart; `code` names why (AUTH_REJECTED, HEALTH_FAILED).
 */
export type HealthVerdict =
  | { kind: 'healthy'; reason: string }
  | { kind: 'unhealthy'; reason: string }
  | { kind: 'restart'; reason: string }
  | { kind: 'fail'; reason: string; code: 'AUTH_REJECTED' | 'HEALTH_FAILED' };

/**
 * Checks one service through its tunnel, on its own timer: a slow or hung check (cut at its
 * timeout) never delays another service's. Crossing `failureThreshold` fires `healthFailed`; unless a
 * plugin answers, the verdict is `restart`. A check whose credentials were rejected is not a flake and
 * no restart can fix it: the first one fires `healthFailed`, and unless a plugin answers, the verdict
 * is `fail`, naming the rejection. It acts on nothing itself: its verdicts go to `onVerdict` listeners.
 */
export class HealthMonitor {
  #status: HealthStatus;
  #successes = 0;
  #timer: NodeJS.Timeout | undefined;
  #abort: AbortController | undefined;
  #running = false;
  #generation = 0;
  #everHealthy = false;
  #waiters: (() => void)[] = [];
  /** No check before this time (ms since epoch): the last one's credentials were refused. */
  #rejectedUntil = 0;
  readonly #check: HealthCheck;
  readonly #listeners = new Set<(verdict: HealthVerdict) => void>();

  constructor(
    private readonly host: HealthTarget,
    private readonly hub: LocalPort,
    private readonly logger: Logger,
  ) {
    const hc = host.service.healthCheck;
    this.#check = hub.healthChecks.get(hc.type);
    this.#status = { state: 'unknown', type: hc.type, lastCheck: null, latencyMs: null, consecutiveFailures: 0, message: null, kind: null, code: null, details: null };
  }

  status(): HealthStatus {
    return { ...this.#status };
  }

  get state(): HealthState {
    return this.#status.state;
  }

  /** The tunnel is (again) listening: health is unknown until checks say otherwise. */
  start(): void {
    this.stop();
    this.#running = true;
    this.#everHealthy = false;
    this.#successes = 0;
    this.#status = { ...this.#status, state: 'unknown', consecutiveFailures: 0 };
    this.#schedule(this.host.service.healthCheck.startupGrace * 1000);
  }

  stop(): void {
    this.#running = false;
    this.#generation += 1;
    clearTimeout(this.#timer);
    this.#abort?.abort();
  }

  /**
   * Nothing is checked for now (the tunnel is gone: idle, restarting, failed, stopped): health is
   * unknown, not the last result. The last check's message, time, kind, code and failures in a row stay,
   * as what it last said; the next start resets them.
   */
  forget(): void {
    this.#status = { ...this.#status, state: 'unknown' };
  }

  /** An explicit new start: the user may have fixed the credentials, so check at once again. */
  forgetRejection(): void {
    this.#rejectedUntil = 0;
  }

  /** Calls `listener` with every verdict from now on; returns the unsubscribe. */
  onVerdict(listener: (verdict: HealthVerdict) => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  #emit(verdict: HealthVerdict): void {
    for (const listener of this.#listeners) {
      try {
        listener(verdict);
      } catch (error) {
        // The host's handling failed for this service: say so against it; the other listeners still hear.
        const name = this.host.service.name;
        this.logger.error({ service: name, err: error instanceof Error ? error.stack : String(error) }, `service ${name}: handling the health verdict '${verdict.kind}' failed: ${error instanceof Error ? error.message : String(error)}`);
      }
    }
  }

  /** Resolves when the service is healthy. */
  whenHealthy(): Promise<void> {
    if (this.#status.state === 'healthy') return Promise.resolve();
    return new Promise((resolve) => this.#waiters.push(resolve));
  }

  #schedule(ms: number): void {
    ms = Math.max(ms, this.#rejectedUntil - Date.now());
    clearTimeout(this.#timer);
    const generation = this.#generation;
    this.#timer = setTimeout(() => void this.#tick(generation), ms);
  }

  /** Runs one check, cut at its timeout; a throwing check is a failed check, named after its plugin. */
  async runCheck(): Promise<HealthResult> {
    const hc = this.host.service.healthCheck;
    const abort = new AbortController();
    this.#abort = abort;
    const timeoutMs = hc.timeout * 1000;
    let timer: NodeJS.Timeout | undefined;
    const timedOut = new Promise<HealthResult>((resolve) => {
      timer = setTimeout(() => {
        abort.abort();
        resolve({ ok: false, kind: 'timeout', message: `${hc.type} check gave no answer within ${hc.timeout} s` });
      }, timeoutMs);
    });
    const plugin = () => this.hub.healthChecks.pluginOf(hc.type) ?? hc.type;
    const run = (async (): Promise<HealthResult> => {
      try {
        const upstream = await this.host.upstream(abort.signal);
        const result = await this.#check.check({
          service: this.host.service,
          host: upstream.host,
          port: upstream.port,
          connect: upstream.connect,
          timeout: hc.timeout,
          config: hc.config,
          signal: abort.signal,
        });
        // A plugin's bug: a check must answer with a result; anything else is a failed check.
        if (typeof result !== 'object' || result === null || typeof result.ok !== 'boolean') {
          throw new Error(`returned ${result === null ? 'null' : typeof result} instead of a result ({ ok: boolean, ... })`);
        }
        return result;
      } catch (error) {
        const e = error instanceof LocalPortError ? error : new PluginError(plugin(), `health check '${hc.type}'`, error);
        return { ok: false, kind: 'protocol', message: e.message };
      }
    })();
    const explain = this.host.watchOutput?.();
    try {
      let result = await Promise.race([run, timedOut]);
      const why = await explain?.(!result.ok);
      if (why) result = { ...result, kind: 'service_down', message: why };
      // A check's message quotes the peer (an HTTP reason, a server's error): it goes to terminals.
      return typeof result.message === 'string' ? { ...result, message: printable(result.message) } : result;
    } finally {
      clearTimeout(timer);
    }
  }

  async #tick(generation: number): Promise<void> {
    if (!this.#running || generation !== this.#generation) return;
    try {
      const t0 = performance.now();
      const result = await this.runCheck();
      if (!this.#running || generation !== this.#generation) return;
      // A check's own latency (the time to a verdict, the timeout at most): what a dashboard plots.
      this.#status.latencyMs = Math.round((performance.now() - t0) * 1000) / 1000;
      await this.#record(result);
    } catch (error) {
      // No verdict: the last latency would stand beside this failure as if it were this check's.
      this.#status.latencyMs = null;
      // LocalPort's own handling failed for this service: say so against it and keep checking.
      this.logger.error(
        { service: this.host.service.name, err: error instanceof Error ? error.stack : String(error) },
        `service ${this.host.service.name}: health monitoring failed: ${error instanceof Error ? error.message : String(error)}`,
      );
    }
    if (!this.#running || generation !== this.#generation) return;
    const interval = this.host.service.healthCheck.interval * 1000;
    this.#schedule(this.#everHealthy ? interval : Math.min(interval, STARTUP_PROBE_MS));
  }

  async #record(result: HealthResult): Promise<void> {
    const hc = this.host.service.healthCheck;
    const name = this.host.service.name;
    const s = this.#status;
    s.lastCheck = new Date().toISOString();
    s.message = result.message ?? null;
    s.details = result.details ?? null;
    s.code = result.code ?? null;
    if (result.ok) {
      s.kind = null;
      s.consecutiveFailures = 0;
      this.#successes += 1;
      if (s.state !== 'healthy' && this.#successes >= hc.successThreshold) {
        this.#everHealthy = true;
        this.#change('healthy', result);
        this.#emit({ kind: 'healthy', reason: result.message ?? 'healthy' });
        const waiters = this.#waiters;
        this.#waiters = [];
        waiters.forEach((w) => w());
      }
      return;
    }
    s.kind = result.kind ?? 'protocol';
    this.#successes = 0;
    s.consecutiveFailures += 1;
    this.logger.debug({ service: name, check: hc.type, kind: s.kind, code: s.code, failures: s.consecutiveFailures }, `health check failed: ${s.message}`);
    const rejected = result.kind === 'auth_rejected';
    if (rejected) this.#rejectedUntil = Date.now() + AUTH_RECHECK_MS;
    // A refused login is an answer, not a flake: the first one counts.
    if ((!rejected && s.consecutiveFailures < hc.failureThreshold) || s.state === 'unhealthy') return;

    this.#change('unhealthy', result);
    this.#emit({ kind: 'unhealthy', reason: s.message ?? `${hc.type} check failed` });
    let verdict: 'restart' | 'ignore' | 'fail' | void = undefined;
    try {
      verdict = await this.hub.hooks.healthFailed.promise(this.host.service, result);
    } catch (error) {
      this.logger.error({ service: name, err: (error as Error).message }, (error as Error).message);
    }
    // Restarting a tunnel cannot fix a password, and retrying it could lock the account.
    const decision = verdict ?? (rejected ? 'fail' : 'restart');
    const failed = `health check ${hc.type} failed ${s.consecutiveFailures} times: ${s.message}`;
    if (decision === 'restart') this.#emit({ kind: 'restart', reason: failed });
    else if (decision === 'fail' && rejected) {
      this.#emit({
        kind: 'fail',
        reason: `the ${hc.type} check's credentials were rejected (${s.message}); not retried, as retries could lock the account: fix health_check.config, then start ${name} again`,
        code: 'AUTH_REJECTED',
      });
    } else if (decision === 'fail') this.#emit({ kind: 'fail', reason: `${failed} (a plugin failed the service)`, code: 'HEALTH_FAILED' });
    else this.logger.warn({ service: name, kind: s.kind }, `${name} is unhealthy (${s.kind}); not restarting: ${s.message}`);
  }

  #change(to: HealthState, result: HealthResult): void {
    const from = this.#status.state;
    this.#status.state = to;
    const name = this.host.service.name;
    this.logger.info({ service: name, health: to, kind: result.kind, code: result.code }, `service ${name} is ${to}: ${result.message ?? ''}`);
    try {
      this.hub.hooks.healthChanged.call({ service: this.host.service, from, healthy: to === 'healthy', result });
    } catch (error) {
      this.logger.error({ service: name, err: (error as Error).message }, (error as Error).message);
    }
  }
}
