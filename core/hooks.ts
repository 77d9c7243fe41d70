import { AsyncParallelHook, AsyncSeriesBailHook, AsyncSeriesHook, AsyncSeriesWaterfallHook, SyncHook } from 'tapable';
import { describeValue } from './config/code.js';
import { checkConfigShape } from './config/guard.js';
import { LocalPortError, PluginError, type ConfigError } from './errors.js';
import type { HealthResult, ResolvedConfig, ServiceDefinition, ServiceState } from './types.js';

export interface ForwardInfo {
  pid: number | null;
  localAddress: string;
  localPort: number;
}

export interface StateChange {
  service: ServiceDefinition;
  from: ServiceState;
  to: ServiceState;
  /** Set when the change was caused by a failure. */
  error?: string;
}

export interface RestartInfo {
  /** 1 for the first restart since the service was last stable. */
  attempt: number;
  /** Seconds until the restart. */
  delay: number;
  reason: string;
}

export interface HealthChange {
  service: ServiceDefinition;
  /** The health before this change: `unknown` until the first verdict after a (re)start. */
  from: 'unknown' | 'healthy' | 'unhealthy';
  healthy: boolean;
  result: HealthResult;
}

export type ShutdownPhaseName = 'stop-new-work' | 'complete-current' | 'cancel-tasks' | 'force-kill';

export interface ShutdownPhaseInfo {
  phase: ShutdownPhaseName;
  /** Seconds this phase may take before the next one begins. */
  timeout: number;
}

/**
 * Every hook LocalPort fires, in one place. Plugins tap them through `api.hooks`; only core calls them.
 * An exception thrown by a tap is re-thrown as `plugin <name> failed in <hook>: …`, except in the
 * synchronous observer hooks (`stateChanged`, `healthChanged`): there it is reported against the
 * service and the other taps still run (see `wrapPluginErrors`).
 */
export function createHooks() {
  return Object.freeze({
    // --- config -------------------------------------------------------------------------------
    /** After the config is validated, before anything starts. Waterfall: return the (possibly changed) config. */
    configResolved: new AsyncSeriesWaterfallHook<[ResolvedConfig]>(['config'], 'configResolved'),

    // --- one service's life ---------------------------------------------------------------------
    /** Before a service's forward is spawned (first start and every restart). Throwing fails that service only. */
    beforeStart: new AsyncSeriesHook<[ServiceDefinition]>(['service'], 'beforeStart'),
    /**
     * The forward is listening (first start and every restart). Observers, fired and not waited for:
     * `start()` resolves, and `run` runs its command, without waiting for them, and a slow one delays
     * no restart. A throw is logged against the service and the plugin, not fatal. Stopping the
     * service gives those still running up to 2 s to finish (in a shutdown, the phase deadlines bound
     * that wait; clean-up that must finish belongs in `shutdownPhase`).
     */
    afterStart: new AsyncParallelHook<[ServiceDefinition, ForwardInfo]>(['service', 'forward'], 'afterStart'),
    /**
     * A start attempt failed (the forward exited or never became ready). Observers, fired and not
     * waited for, as `afterStart`: a slow one delays neither the next attempt nor the error a first
     * start rejects with. Stopping the service (as `run` does after a failed start) gives them up to
     * 2 s to finish, as for `afterStart`.
     */
    startFailed: new AsyncParallelHook<[ServiceDefinition, Error]>(['service', 'error'], 'startFailed'),
    /**
     * Every state transition, synchronously, in order. A promise a tap returns is not waited for: the
     * transition (a restart included) goes on at once.
     */
    stateChanged: new SyncHook<[StateChange]>(['change'], 'stateChanged'),
    /** Before a service is stopped on purpose. */
    beforeStop: new AsyncSeriesHook<[ServiceDefinition]>(['service'], 'beforeStop'),
    /** The service's process is gone. Observers. */
    afterStop: new AsyncParallelHook<[ServiceDefinition]>(['service'], 'afterStop'),
    /** Before an automatic restart. Bail: return `false` to veto it (the service goes to `failed`). */
    beforeRestart: new AsyncSeriesBailHook<[ServiceDefinition, RestartInfo], false | void>(['service', 'restart'], 'beforeRestart'),

    // --- health ---------------------------------------------------------------------------------
    /** Health flipped between healthy and unhealthy; synchronously, a promise a tap returns is not waited for. */
    healthChanged: new SyncHook<[HealthChange]>(['change'], 'healthChanged'),
    /**
     * Consecutive failures crossed the threshold, or a check's credentials were rejected (`auth_rejected`,
     * at the first one). Bail: return `'ignore'` to keep the service as it is, `'restart'` to force a
     * restart, `'fail'` to stop it in `failed`; no answer means core decides: restart, except for
     * rejected credentials, which fail the service. After a rejection the next check of that service
     * waits at least 30 s, whatever the answer.
     */
    healthFailed: new AsyncSeriesBailHook<[ServiceDefinition, HealthResult], 'restart' | 'ignore' | 'fail' | void>(['service', 'result'], 'healthFailed'),

    // --- process ----------------------------------------------------------------------------------
    /**
     * Each phase of a shutdown, in order: `stop-new-work`, `complete-current`, `cancel-tasks` (every
     * service is stopped), `force-kill`. Fires in every LocalPort process that ran services: under
     * `localport run` (the command exited, a service could not start, or Ctrl-C/SIGTERM/SIGHUP) and in
     * the daemon (`daemon stop`, SIGTERM, SIGINT). `timeout` is how long (seconds) the phase may take
     * before the next begins; a tap still running then is not waited for. A second signal or request
     * forces: the phase under way is cut short, the ones before `force-kill` that have not begun are
     * skipped (they do not fire), and `force-kill` fires. Plugins clean up here.
     */
    shutdownPhase: new AsyncParallelHook<[ShutdownPhaseInfo]>(['phase'], 'shutdownPhase'),
  });
}

export type Hooks = ReturnType<typeof createHooks>;

type TapSide<H> = H extends { tapPromise: unknown }
  ? Pick<H, Extract<keyof H, 'tap' | 'tapAsync' | 'tapPromise' | 'intercept' | 'isUsed'>>
  : Pick<H, Extract<keyof H, 'tap' | 'intercept' | 'isUsed'>>;

/** What plugins see: tap methods only. */
export type TapHooks = { readonly [K in keyof Hooks]: TapSide<Hooks[K]> };

export function tapSide(hooks: Hooks): TapHooks {
  const out: Record<string, unknown> = {};
  for (const [name, hook] of Object.entries(hooks)) {
    const h = hook as unknown as Record<string, unknown>;
    const side: Record<string, unknown> = {};
    for (const m of ['tap', 'tapAsync', 'tapPromise', 'intercept', 'isUsed']) {
      if (typeof h[m] === 'function') side[m] = (h[m] as (...a: unknown[]) => unknown).bind(hook);
    }
    out[name] = Object.freeze(side);
  }
  return Object.freeze(out) as TapHooks;
}

/** A config as configResolved passes it on: anything else would fail far from the plugin that returned it. */
const isResolvedConfig = (c: unknown): boolean =>
  !!c && typeof c === 'object' && Array.isArray((c as ResolvedConfig).services) && (c as ResolvedConfig).services.every((s) => !!s && typeof s === 'object' && typeof s.name === 'string');

/** What a waterfall tap may return, checked as it returns (undefined passes the value on unchanged). */
const RESULT_CHECKS: Partial<Record<keyof Hooks, (result: unknown) => string | undefined>> = {
  configResolved: (r) => {
    if (r === undefined) return undefined;
    if (!isResolvedConfig(r)) return `it returned ${describeValue(r, 60)} instead of the config; return the config it was given (changed or not)`;
    try {
      // A config that contains itself or expands without bound would hang whatever walks it next.
      checkConfigShape(r, '');
    } catch (error) {
      const p = (error as ConfigError).problems?.[0];
      return `it returned a config that cannot be used: ${p ? `${p.path}: ${p.message}` : describeValue(error)}`;
    }
    return undefined;
  },
};

type TapFn = (...args: unknown[]) => unknown;

/**
 * A tap returned what its hook does not take. The message says exactly what is wrong (and the
 * PluginError around it names the plugin), and a stack would point into this checker rather than into
 * the plugin: one line, code PLUGIN_CONTRACT.
 */
const contractBroken = (problem: string) => new LocalPortError('PLUGIN_CONTRACT', problem);

/** `fn` with what it returns checked: a problem is thrown (or, for a callback tap, passed to the callback). */
function checkResults(type: string, fn: TapFn, check: (result: unknown) => string | undefined): TapFn {
  const checked = (result: unknown) => {
    const problem = check(result);
    if (problem) throw contractBroken(problem);
    return result;
  };
  if (type === 'promise') return async (...args) => checked(await fn(...args));
  if (type === 'sync') return (...args) => checked(fn(...args));
  return (...args) => {
    const cb = args.pop() as (err?: unknown, r?: unknown) => void;
    fn(...args, (err?: unknown, r?: unknown) => {
      const problem = err ? undefined : check(r);
      cb(err ?? (problem ? contractBroken(problem) : undefined), r);
    });
  };
}

/** Receives a tap's error that cannot be thrown to core; `args` are the hook's arguments. */
export type TapErrorReporter = (error: PluginError, args: unknown[]) => void;

const isThenable = (x: unknown): x is PromiseLike<unknown> => typeof (x as { then?: unknown } | null)?.then === 'function';

/**
 * Wraps every tap so that what it throws names the plugin (the tap's name) and the hook. With a
 * `report`er, two kinds of plugin error that would otherwise escape are handed to it instead:
 * - a throw in a SyncHook tap: these hooks are observers, and one failing observer must neither
 *   stop the taps after it nor the state change that fired it;
 * - a rejected promise returned by a `tap` (not `tapPromise`) in a hook that ignores what sync taps
 *   return: nobody awaits it, so it would be an unhandled rejection and end the process.
 */
export function wrapPluginErrors(hooks: Hooks, report?: TapErrorReporter): void {
  for (const [hookName, hook] of Object.entries(hooks)) {
    const kind = (hook as unknown as { constructor: unknown }).constructor;
    const isolate = kind === SyncHook && report !== undefined;
    const ignoresResult = kind === SyncHook || kind === AsyncSeriesHook || kind === AsyncParallelHook;
    const check = RESULT_CHECKS[hookName as keyof Hooks];
    (hook as unknown as { intercept(i: object): void }).intercept({
      register(tap: { name: string; type: string; fn: TapFn }) {
        const fn = check ? checkResults(tap.type, tap.fn, check) : tap.fn;
        const wrapErr = (e: unknown) => (e instanceof PluginError ? e : new PluginError(tap.name, hookName, e));
        if (tap.type === 'promise') {
          tap.fn = async (...args: unknown[]) => {
            try {
              return await fn(...args);
            } catch (e) {
              throw wrapErr(e);
            }
          };
        } else if (tap.type === 'async') {
          tap.fn = (...args: unknown[]) => {
            const cb = args.pop() as (err?: unknown, r?: unknown) => void;
            try {
              fn(...args, (err?: unknown, r?: unknown) => cb(err ? wrapErr(err) : err, r));
            } catch (e) {
              cb(wrapErr(e));
            }
          };
        } else {
          tap.fn = (...args: unknown[]) => {
            let result: unknown;
            try {
              result = fn(...args);
            } catch (e) {
              if (!isolate) throw wrapErr(e);
              report(wrapErr(e), args);
              return undefined;
            }
            if (report && ignoresResult && isThenable(result)) result.then(undefined, (e: unknown) => report(wrapErr(e), args));
            return result;
          };
        }
        return tap;
      },
    });
  }
}
