import type { LocalPort } from '../LocalPort.js';
import type { ResolvedConfig, ServiceDefinition, ServiceStatus } from '../types.js';
import { installExitReaper } from './children.js';
import { ServiceSupervisor, stopSharedConnections } from './ServiceSupervisor.js';

export { selectServices, type Selection } from './select.js';

export interface StartResult {
  name: string;
  ok: boolean;
  error?: Error;
}

/**
 * All supervised services of one LocalPort process. Starts and stops them in parallel.
 *
 * `start`, `stop`, `remove` and `replace` on one service name run in the order they were asked
 * for: a start never overtakes a stop or removal still in progress (a tunnel may take its whole
 * grace period to die), so the last request wins. Different names never wait for each other.
 */
export class Supervisor {
  readonly services = new Map<string, ServiceSupervisor>();
  /** Per service name, the last queued operation (settled, never rejecting). */
  readonly #queues = new Map<string, Promise<void>>();
  /** stopAll was called: a start still waiting in a queue must not spawn anything any more. */
  #closing = false;

  constructor(
    private readonly hub: LocalPort,
    /** The config the services come from: it names their log folder. */
    private readonly opts: { configFile?: string } = {},
  ) {
    installExitReaper();
  }

  add(service: ServiceDefinition): ServiceSupervisor {
    const existing = this.services.get(service.name);
    if (existing) return existing;
    const s = new ServiceSupervisor(service, this.hub, this.opts);
    this.services.set(service.name, s);
    return s;
  }

  async startAll(services: ServiceDefinition[]): Promise<StartResult[]> {
    return Promise.all(
      services.map(async (def) => {
        try {
          await this.add(def).start();
          return { name: def.name, ok: true };
        } catch (error) {
          return { name: def.name, ok: false, error: error as Error };
        }
      }),
    );
  }

  /** Runs `op` once every earlier operation on `name` has finished. */
  #inOrder<T>(name: string, op: () => T | Promise<T>): Promise<T> {
    const run = (this.#queues.get(name) ?? Promise.resolve()).then(op);
    const settled = run.then(
      () => {},
      () => {},
    );
    this.#queues.set(name, settled);
    void settled.then(() => {
      if (this.#queues.get(name) === settled) this.#queues.delete(name);
    });
    return run;
  }

  /** `s.start()`, handed out of a queued operation without making the queue wait for it. */
  #begin(def: ServiceDefinition): { started: Promise<void> } {
    if (this.#closing) return { started: Promise.resolve() };
    const started = this.add(def).start();
    started.catch(() => {}); // the caller awaits it; this only keeps an early rejection from counting as unhandled
    return { started };
  }

  /**
   * Starts a service once earlier operations on its name are done. Resolves when it is ready;
   * rejects as `ServiceSupervisor.start` does.
   */
  async start(def: ServiceDefinition): Promise<void> {
    const { started } = await this.#inOrder(def.name, () => this.#begin(def));
    await started;
  }

  /** Stops a service (it stays known, as `stopped`) once earlier operations on its name are done. */
  async stop(name: string): Promise<void> {
    await this.#inOrder(name, () => this.services.get(name)?.stop());
  }

  /** Stops a service and forgets it (removed from the config). */
  async remove(name: string): Promise<void> {
    await this.#inOrder(name, () => this.#stopAndForget(name));
  }

  /** Stops what runs under `name` and forgets it, unless a newer supervisor took the name meanwhile. */
  async #stopAndForget(name: string): Promise<void> {
    const s = this.services.get(name);
    if (!s) return;
    await s.stop();
    if (this.services.get(name) === s) this.services.delete(name);
  }

  /**
   * A service's definition changed: the old one stops and is forgotten; the new one starts if it is
   * enabled and either the old one was active (not stopped) or `start` says so (it was just
   * enabled). `started` settles when that start does.
   */
  async replace(def: ServiceDefinition, opts: { start?: boolean } = {}): Promise<{ started?: Promise<void> }> {
    return this.#inOrder(def.name, async () => {
      const old = this.services.get(def.name);
      const wasActive = !!old && old.state !== 'stopped';
      const restart = (wasActive || opts.start) && def.enabled && !this.#closing;
      // The port stays open through the change when the new definition listens where the old one did.
      const next = restart && old ? new ServiceSupervisor(def, this.hub, this.opts) : undefined;
      if (next && old!.handOverFront(next)) {
        // The new tunnel starts while the old one finishes what it serves (its own endpoint, the port
        // shared): new connections wait for the new one, those in flight end on the old one.
        this.services.set(def.name, next);
        const begun = this.#begin(def);
        await old!.stop();
        return begun;
      }
      await this.#stopAndForget(def.name);
      if (!restart) return {};
      return this.#begin(def);
    });
  }

  async stopAll(): Promise<void> {
    this.#closing = true;
    await Promise.all([...this.services.values()].map((s) => s.stop()));
    await stopSharedConnections(this.hub);
  }

  killAllNow(): void {
    for (const s of this.services.values()) s.killNow();
  }

  status(): ServiceStatus[] {
    return [...this.services.values()].map((s) => s.status());
  }
}
