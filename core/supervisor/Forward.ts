import type { ExitInfo } from '../types.js';

/**
 * One running forward, as the state machine (ServiceSupervisor) sees it: something that is started,
 * may print lines, ends on its own or when stopped, and says how it ended. A child process
 * (ForwardProcess) is one kind; a forward served inside LocalPort itself, or a relay in front of a
 * tunnel, can be another without the state machine changing.
 */
export interface Forward {
  /** The process that serves the forward, if it is a process of its own. */
  readonly pid: number | null;
  /** The last lines it printed, oldest first: what an error message may quote. */
  readonly tail: readonly string[];
  /** Brings the forward up. Resolves once it runs, not once it is ready (see readiness.ts). */
  start(): Promise<void>;
  /** Calls `listener` with each line printed from now on; returns the unsubscribe. */
  onLine(listener: (line: string) => void): () => void;
  /**
   * Calls `listener` once, when the forward has ended and let go of all it held (its local port
   * included), at once if that has already happened; returns the unsubscribe.
   */
  onExit(listener: (info: ExitInfo) => void): () => void;
  /**
   * Calls `listener` once, the moment the forward dies (a process: its own exit, before its process
   * group and output are done with, which `onExit` waits for); returns the unsubscribe.
   */
  onDying(listener: () => void): () => void;
  /** Ends the forward: politely, then by force after the stop grace. Resolves once it has ended. */
  stop(): Promise<void>;
  /** Ends it by force at once, without waiting: for process exit, where nothing can be awaited. */
  killNow(): void;
}

/**
 * Something that happens once (a forward's exit, its death): a listener hears it when it happens, or at
 * once if it has already; one that throws is reported through `onError` and the others still hear it.
 */
export class Once<T> {
  #value: { v: T } | undefined;
  readonly #listeners = new Set<(value: T) => void>();

  constructor(private readonly onError: (error: unknown) => void) {}

  get value(): T | undefined {
    return this.#value?.v;
  }

  get happened(): boolean {
    return this.#value !== undefined;
  }

  listen(listener: (value: T) => void): () => void {
    if (this.#value) {
      listener(this.#value.v);
      return () => {};
    }
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** It happened (the first call counts). */
  settle(value: T): void {
    if (this.#value) return;
    this.#value = { v: value };
    const listeners = [...this.#listeners];
    this.#listeners.clear();
    for (const l of listeners) {
      try {
        l(value);
      } catch (error) {
        this.onError(error);
      }
    }
  }
}
