import type { LocalPort } from '../LocalPort.js';
import type { ShutdownPhaseInfo, ShutdownPhaseName } from '../hooks.js';
import type { Logger } from '../types.js';
import { children } from './children.js';
import type { Supervisor } from './Supervisor.js';

/**
 * The phases of an orderly shutdown, in order, and how long each may take (seconds) before the next
 * begins: stop taking new work, let current operations complete, cancel what runs (SIGTERM to every
 * tunnel, in parallel), force-kill what remains. The deadlines are the daemon's, which `daemon stop`
 * keeps fast; a host may lengthen one (`ShutdownOptions.timeouts`).
 */
export const SHUTDOWN_PHASES: readonly Readonly<ShutdownPhaseInfo>[] = Object.freeze([
  Object.freeze({ phase: 'stop-new-work', timeout: 0.05 }),
  Object.freeze({ phase: 'complete-current', timeout: 0.15 }),
  Object.freeze({ phase: 'cancel-tasks', timeout: 0.25 }),
  Object.freeze({ phase: 'force-kill', timeout: 0.5 }),
] as const);

/** How a phase ended: its work finished, its deadline passed, a forcing request cut it short, or it never ran. */
export type PhaseOutcome = 'done' | 'timeout' | 'forced' | 'skipped';

export interface ShutdownOutcome {
  reason: string;
  /** A second request (or one with `force`) cut the orderly phases short. */
  forced: boolean;
  phases: { phase: ShutdownPhaseName; timeout: number; outcome: PhaseOutcome; ms: number }[];
  ms: number;
  /** Tunnel processes this LocalPort spawned that are still not known to be gone. */
  left: number;
}

export interface ShutdownOptions {
  logger: Logger;
  /**
   * The host's own work in a phase, run beside the `shutdownPhase` hook and the engine's own work
   * (cancel-tasks stops every service; force-kill SIGKILLs what remains): the daemon closes its socket
   * and watcher, `run` stops publishing its state.
   */
  actions?: Partial<Record<ShutdownPhaseName, () => unknown>>;
  /** Told as each phase ends (a progress display). */
  onPhase?: (info: { phase: ShutdownPhaseName; outcome: PhaseOutcome; ms: number }) => void;
  /** Deadlines (seconds) that differ from SHUTDOWN_PHASES. */
  timeouts?: Partial<Record<ShutdownPhaseName, number>>;
  /** What the host must kill at once when the shutdown is forced (`run`'s command). Synchronous. */
  onForce?: () => void;
}

/**
 * The one way a LocalPort process (`run` or the daemon) stops its services: the phases in order, each
 * firing `shutdownPhase` and ended by its deadline, and every tunnel stopped through the supervisor
 * (process groups, then marked descendants). It never ends the process: the entry point does that
 * with the outcome.
 */
export class Shutdown {
  #outcome: Promise<ShutdownOutcome> | undefined;
  #finished = false;
  #forced = false;
  #wakeForced!: () => void;
  readonly #forced$ = new Promise<'forced'>((resolve) => (this.#wakeForced = () => resolve('forced')));

  constructor(
    private readonly hub: LocalPort,
    private readonly supervisor: Supervisor,
    private readonly opts: ShutdownOptions,
  ) {}

  /** Whether a shutdown was asked for (it may still be running). */
  get requested(): boolean {
    return this.#outcome !== undefined;
  }

  /**
   * Asks for the shutdown. The first request runs the phases. A request while they run, or one with
   * `force`, forces: every tunnel's process group gets SIGKILL now and the phases skip to force-kill.
   * Every call resolves with the same outcome, once the last phase is over.
   */
  request(reason: string, opts: { force?: boolean } = {}): Promise<ShutdownOutcome> {
    if (this.#outcome) {
      if (!this.#finished) this.#force(reason);
      return this.#outcome;
    }
    if (opts.force) this.#force(reason);
    this.#outcome = this.#run(reason).finally(() => (this.#finished = true));
    return this.#outcome;
  }

  #force(reason: string): void {
    if (this.#forced) return;
    this.#forced = true;
    this.opts.logger.warn({ reason }, `shutdown forced (${reason}): SIGKILL to every tunnel now`);
    this.supervisor.killAllNow();
    try {
      this.opts.onForce?.();
    } catch (error) {
      this.opts.logger.error({ err: (error as Error).message }, (error as Error).message);
    }
    this.#wakeForced();
  }

  async #run(reason: string): Promise<ShutdownOutcome> {
    const { logger } = this.opts;
    const t0 = Date.now();
    logger.info({ reason }, `shutdown requested (${reason})`);
    const phases: ShutdownOutcome['phases'] = [];
    for (const [i, { phase, timeout: base }] of SHUTDOWN_PHASES.entries()) {
      const timeout = this.opts.timeouts?.[phase] ?? base;
      const p0 = Date.now();
      let outcome: PhaseOutcome = 'skipped';
      // Forced: only force-kill still runs, and nothing cuts it short but its own deadline.
      if (!this.#forced || phase === 'force-kill') {
        let timer: NodeJS.Timeout | undefined;
        const deadline = new Promise<'timeout'>((resolve) => (timer = setTimeout(() => resolve('timeout'), timeout * 1000)));
        const logged = (p: Promise<unknown>) => p.catch((e: Error) => logger.error({ phase, err: e.message }, e.message));
        const work = Promise.all([
          logged(this.hub.hooks.shutdownPhase.promise({ phase, timeout })),
          logged(Promise.resolve().then(() => this.#engineWork(phase))),
          logged(Promise.resolve().then(() => this.opts.actions?.[phase]?.())),
        ]).then(() => 'done' as const);
        outcome = await Promise.race(phase === 'force-kill' ? [work, deadline] : [work, deadline, this.#forced$]);
        clearTimeout(timer);
      }
      const ms = Date.now() - p0;
      phases.push({ phase, timeout, outcome, ms });
      logger.info({ phase, ms, outcome }, `shutdown phase ${i + 1}/${SHUTDOWN_PHASES.length} ${phase}: ${outcome} in ${ms} ms`);
      try {
        this.opts.onPhase?.({ phase, outcome, ms });
      } catch (error) {
        logger.error({ phase, err: (error as Error).message }, (error as Error).message);
      }
    }
    return { reason, forced: this.#forced, phases, ms: Date.now() - t0, left: children.size };
  }

  /** What the engine itself does in a phase: the tunnels are its business, whoever hosts it. */
  async #engineWork(phase: ShutdownPhaseName): Promise<void> {
    if (phase === 'cancel-tasks') await this.supervisor.stopAll();
    if (phase === 'force-kill') {
      this.supervisor.killAllNow();
      await this.supervisor.stopAll();
    }
  }
}
